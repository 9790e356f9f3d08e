"""Jobs as such: where their files live, how their life runs and ends, what RQ calls."""
