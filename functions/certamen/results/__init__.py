"""The read side: what the organisers see, in the app and the dashboards."""
