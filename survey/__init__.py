"""manyi 满意 — the Flask application (one blueprint per audience)."""

from survey.app import create_app

__all__ = ["create_app"]
