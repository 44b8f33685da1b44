"""The web layer: every page and its form (one module per domain: lots.py, orders.py ...),
the home page, language switch, error pages and health (views.py), and what all pages share:
templating, security headers, logs, forms helpers (forms/)."""
