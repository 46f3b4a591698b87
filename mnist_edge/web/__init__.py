"""The web view: the live hub, upload decoding and prediction, the HTTP server, its static files."""
