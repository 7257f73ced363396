"""Mail: composing, the transactional outbox, delivery over SMTP, the development SMTP server."""
