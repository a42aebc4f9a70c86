"""Thin routes: look up the service, call it, return JSON or a stream."""
