"""PostHog sources: HogQL through PostHog's Query API."""
