"""The worker: claim stored events, process them, record the outcome, send notifications."""
