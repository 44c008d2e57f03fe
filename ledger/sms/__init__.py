"""Text messages (SMS): the providers (senders.py), the texts (texts.py), and their delivery with daily caps
(delivery.py). The API builds the sender the settings choose; docs/sms.md says how it all works."""
