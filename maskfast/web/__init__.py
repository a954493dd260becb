"""Web pages people use by hand, served locally (FastAPI, server-rendered HTML, every asset from `static/`): label
review (`review`) and trying a photo / the prediction service (`serve`)."""
