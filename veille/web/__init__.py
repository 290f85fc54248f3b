"""The web face: one ASGI application (Starlette under uvicorn) for the JSON API, the web page, the WebSub
callback, ``/healthz`` and ``/readyz``. Like the command line, it calls :mod:`veille.manage` only.

    app.py        create_app(ctx): routes, middleware, where work runs (event loop, thread pool, parsing thread)
    security.py   security headers, body cap and deadline, uvicorn's protocol with a request-head deadline
    auth.py       tokens, session cookie, CSRF, failed-attempt limit, /login and /logout
    websub.py     the WebSub callback
    api.py        /api/v1
    server.py     uvicorn's settings; serve()
"""
