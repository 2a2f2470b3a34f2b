"""Gladly's Reports API: report streams as daily-partitioned assets, teams and inboxes."""
