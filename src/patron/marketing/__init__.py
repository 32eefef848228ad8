"""Marketing: campaigns and their members, segments and their members."""
