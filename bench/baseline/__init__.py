"""A plain Twilio <-> OpenAI Realtime relay, the kind a team copies from a tutorial.

The benchmark's point of comparison: one FastAPI/uvicorn process that answers the voice
webhook with `<Connect><Stream>` and forwards audio both ways between the media stream and the
realtime API. No memory, no tenants, no signature checks, no pool: see `bench.baseline.relay`.
"""
