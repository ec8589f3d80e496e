"""The HTTP side: routes.py (the route table), app.py (the application, reload, the workers' factory),
loaded.py (the settings compiled for serving), views.py, pages.py (Jinja2, fr/en), middleware.py, and
what the IT team reads: health.py, metrics.py, accesslog.py."""
