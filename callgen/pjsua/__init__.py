"""pjsua itself: the process driver, its output patterns, config rendering, its codecs."""
