"""Re-firing logged attempts: single re-fires, bulk jobs and their routes."""
