"""Personal data rights: export everything held about a customer, erase it, marketing consent."""
