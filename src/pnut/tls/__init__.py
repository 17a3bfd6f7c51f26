"""TLS for STARTTLS: certificate tooling and SSL contexts."""
