"""One router per resource of the admin API (and the Twilio recording webhook)."""
