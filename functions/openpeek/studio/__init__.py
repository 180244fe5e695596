"""The studio: a browser console for openpeek, served by the API itself from the files in static/ (no CDN, no build
step). static/ holds plain ES modules over vendored preact + htm (static/vendor, copied from npm by vendor.sh with
their licences; VENDOR.sha256 pins them), and the swagger-ui and redoc files /docs and /redoc load."""

from pathlib import Path

STATIC_ROOT = Path(__file__).resolve().parent / "static"
