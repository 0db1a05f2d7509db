"""The marketer's dashboard at ``/dashboard``: overview, models, training, customers and offers, served
by the API process from server-rendered pages (no front-end build, no CDN). ``routes`` holds the pages,
``views`` what they show, ``auth`` the sign-in and CSRF guard, ``charts`` the server-drawn plots."""
