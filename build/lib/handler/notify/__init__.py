"""Notifications: render outcomes for Slack, Teams, signed webhooks and logs; send them via the outbox."""
