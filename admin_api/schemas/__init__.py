"""Pydantic models at the HTTP boundary of the admin API: Create/Update request bodies and
Public responses, one module per resource. Table rows never reach a response directly."""
