"""Layer 8, the web studio: style transfer from the browser, with live progress (python -m nst.web).

`server` is the Flask app, `jobs` the queue and its worker thread (the CLI's run function),
`forms` the settings form made from nst.settings, `uploads` the checked images, `runs` the
run folders as the page lists them. The page itself is templates/ and static/: plain HTML,
CSS and JavaScript, served by the tool, no CDN.
"""
