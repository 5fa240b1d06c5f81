"""The dispatcher: consumes clicks, conversions and events, fires postbacks, publishes attempts."""
