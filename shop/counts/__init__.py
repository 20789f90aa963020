"""Events and sign-ups per day, kept in a small table so pages never count the events table per request."""
