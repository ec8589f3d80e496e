"""The HTTP side of one worker: routes.py (the route table), app.py (the application serving a version of
the settings), served.py (a version as this worker serves it: pages, caches, the directory; the one way
an address becomes an account), views.py and guides.py, request_values.py (what a request says),
pages.py (Jinja2, fr/en), middleware.py, and what the IT team reads: monitoring.py (/healthz and
/metrics), health.py, metrics.py, funnel.py, accesslog.py."""
