"""python -m nst.settings > config.ini  (regenerates the shipped file from the defaults)"""

from nst.settings import Settings, render

print(render(Settings()), end="")
