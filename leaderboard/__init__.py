"""The moebench leaderboard: submissions (data, never code), evaluation on the standard splits,
scores and the rendered LEADERBOARD.md."""
