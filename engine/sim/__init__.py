"""Protocol-faithful stand-ins for the outside world: Twilio (caller, media stream, REST),
OpenAI Realtime and OpenAI HTTP. They speak the real wire protocols so the engine's real
clients talk to them; tests, benchmarks and `neurosphere demo` use them. Nothing in the
engine's call path imports this package."""
