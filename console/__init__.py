"""The operating team's web console (ASGI, its own process: `hotline console`).

app.py        create_app: the Starlette app from its parts (the wiring passes them in)
pages.py      the routes: thin, each checks access, calls one query or action, renders
access.py     who may see or do what (roles, agency scoping): the one place for it
auth.py       logging in and out: password check, failed-login rate limit, audit
csrf.py       the CSRF guard on every state-changing request
passwords.py  argon2 hashes
fmt.py        Vietnamese formatting for templates (dd/mm/yyyy, Asia/Ho_Chi_Minh)
templates/    Jinja2, server-rendered;  static/  CSS and vendored htmx (no CDN)
"""
