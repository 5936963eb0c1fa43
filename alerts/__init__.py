"""Alert delivery (outbox, Apprise channels, signed webhooks). Built in a later issue."""
