"""One router per API dialect; each translates HTTP to core calls and back."""
