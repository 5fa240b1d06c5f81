"""The web pages: Postbacks (configurations) and Postbacks Logs (the attempt log).

Plain HTML, CSS and ES modules under static/, served as they are: no build step, nothing
loaded from anywhere but this origin. The pages hold no data; every row they show comes from
/api/v1 on the same origin, with the bearer token the user typed when tokens are configured.
"""

from query_api.pages.routes import mount_pages

__all__ = ["mount_pages"]
