"""The HTTP adapter: FastAPI app factory, auth, errors, one router per API dialect."""
