"""The words of the demo: ticket subjects, activity notes, deal titles and reasons."""

from __future__ import annotations

# Ticket topics: (name, weight for order-related tickets, weight for churners, resolution hours
# median, subjects, descriptions). ``{product}``, ``{order}``, ``{country}`` are filled in.
TICKET_TOPICS: tuple[tuple[str, float, float, float, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "delivery", 25, 18, 20,
        ("Where is my order {order}?", "Order {order} has not arrived yet",
         "Tracking for {order} has not updated in days", "Change delivery address for {order}"),
        ("The tracking page shows no movement since it was dispatched.",
         "I need this before the weekend; can you check with the courier?",
         "The parcel shows as delivered but nobody here received it."),
    ),
    (
        "damaged", 12, 20, 48,
        ("{product} arrived damaged", "Missing item in order {order}",
         "Wrong item received in order {order}"),
        ("The box was crushed and the product does not work.",
         "One of the items on the packing slip was not in the parcel.",
         "I ordered one thing and received something else. Photos attached."),
    ),
    (
        "returns", 15, 24, 72,
        ("Return request for {product}", "Refund not received for order {order}",
         "How do I return {product}?"),
        ("It does not suit my needs; I would like to return it unopened.",
         "I sent the item back two weeks ago and still have no refund.",
         "Please send me a return label."),
    ),
    (
        "technical", 25, 28, 30,
        ("{product} will not turn on", "{product} keeps disconnecting",
         "Firmware update failed on {product}", "How do I set up {product}?"),
        ("I followed the quick-start guide but it still does not work.",
         "It worked for a week and now it keeps dropping the connection.",
         "The app says the update failed and now the device is stuck."),
    ),
    (
        "billing", 10, 6, 12,
        ("Charged twice for order {order}", "VAT invoice needed for order {order}",
         "Update billing details"),
        ("My card statement shows two charges for the same order.",
         "Our accounts team needs an invoice with our company details.",
         "Please update the billing address on my account."),
    ),
    (
        "account", 8, 4, 4,
        ("Cannot log in to my account", "Change the email on my account",
         "Unsubscribe me from marketing emails"),
        ("The password reset email never arrives.",
         "I have a new email address; please move my account.",
         "I still receive newsletters after unsubscribing."),
    ),
    (
        "presale", 5, 0, 6,
        ("Is {product} in stock?", "Bulk pricing for {product}", "Do you ship to {country}?"),
        ("We are comparing options and would like a quick answer.",
         "We may need a larger quantity for our office.",
         "I could not find shipping information for my country."),
    ),
)  # fmt: skip

TICKET_REPLIES: tuple[tuple[str, str, str], ...] = (
    ("email", "outbound", "Re: {subject}"),
    ("email", "inbound", "Re: {subject}"),
    ("call", "outbound", "Call about: {subject}"),
    ("call", "inbound", "Customer called about: {subject}"),
    ("note", "internal", "Internal note: {subject}"),
)
TICKET_REPLY_BODIES = (
    "Explained the next steps and promised an update within one business day.",
    "Asked for photos of the packaging and the serial number.",
    "Arranged a replacement to be shipped by express delivery.",
    "Escalated to the warehouse team.",
    "Customer confirmed the fix works.",
    "Issued a refund to the original payment method.",
    "Sent a prepaid return label.",
)

# General relationship touches: (type, direction, subject, body).
TOUCHES: tuple[tuple[str, str, str, str], ...] = (
    ("call", "outbound", "Check-in call", "Asked how the recent purchase is working out."),
    ("call", "outbound", "Introductory call", "Walked through the range and delivery options."),
    ("call", "inbound", "Question about product range", "Wanted advice on choosing a model."),
    ("email", "outbound", "Thank you for your order", "Thanked them and shared care tips."),
    ("email", "outbound", "Product recommendations", "Sent three picks based on past orders."),
    ("email", "inbound", "Request for a catalogue", "Asked for the latest price list."),
    ("email", "outbound", "Invitation: VIP early access", "Invited to the early-access sale."),
    ("meeting", "outbound", "Showroom visit", "Demonstrated the new models in the showroom."),
    ("note", "internal", "Account note", "Prefers email; best reached in the morning."),
    ("note", "internal", "Account note", "Buys for a small team; ask about volume pricing."),
    ("sms", "outbound", "Order update", "Your order has shipped and is on its way."),
    ("sms", "outbound", "Appointment reminder", "Reminder of tomorrow's call at 10:00."),
)
LEAD_TOUCHES: tuple[tuple[str, str, str, str], ...] = (
    ("email", "outbound", "Welcome to the shop", "Sent the welcome pack and first-order code."),
    ("call", "outbound", "Discovery call", "Discussed needs and budget; follow up next month."),
    ("email", "inbound", "Question before buying", "Asked about warranty and returns."),
    ("note", "internal", "Lead note", "Came in through the website chat."),
)
DEAL_TOUCHES: tuple[tuple[str, str, str, str], ...] = (
    ("meeting", "outbound", "Discovery meeting", "Mapped requirements, decision makers, timing."),
    ("email", "outbound", "Proposal sent", "Sent the proposal with volume pricing."),
    ("call", "outbound", "Proposal follow-up", "Went through the proposal line by line."),
    ("meeting", "outbound", "Product demo", "Demonstrated the shortlist on site."),
    ("email", "inbound", "Questions on the quote", "Asked about delivery dates and payment terms."),
    ("call", "inbound", "Negotiation call", "Discussed discount for a two-year commitment."),
    ("note", "internal", "Deal note", "Procurement needs three quotes; we are one of them."),
)

# Deal offers per industry; ``{k}`` is a number of seats, sites or units.
DEAL_OFFERS: dict[str, tuple[str, ...]] = {
    "hospitality": (
        "Espresso machines for {k} locations", "Coffee bean subscription ({k} kg a month)",
        "Kitchen equipment refit", "Guest-room smart-home upgrade ({k} rooms)",
    ),
    "creative": (
        "Camera kit for {k} photographers", "Editing workstations ({k} seats)",
        "Studio lighting and audio package",
    ),
    "technology": (
        "Laptop refresh ({k} seats)", "Monitors and docks ({k} desks)",
        "Office coffee service", "Meeting-room audio and video ({k} rooms)",
    ),
    "professional services": (
        "Laptop refresh ({k} seats)", "Printers and supplies contract", "Office coffee service",
        "Ergonomic desks and chairs ({k} desks)",
    ),
    "fitness": ("Gym equipment fit-out", "Fitness trackers for members ({k} units)",
                "Front-desk coffee service"),
    "retail": ("Wholesale order: outdoor range", "Wholesale order: kitchen range",
               "Seasonal stock for {k} stores"),
    "events": ("Event audio package", "Camera and drone kit for events",
               "Coffee service for {k} events"),
    "real estate": ("Smart-building pilot ({k} units)", "Co-working fit-out: desks and chairs",
                    "Office coffee service"),
    "person": ("Home office setup", "Home cinema package", "Home gym package",
               "Photography starter kit"),
}  # fmt: skip
WON_REASONS = (
    "Best price-performance", "Existing relationship", "Fast delivery commitment",
    "Bundle discount", "Strong product demo", "Better warranty terms",
)  # fmt: skip
LOST_REASONS = (
    "Chose a competitor", "Budget cut", "No decision", "Price too high",
    "Timing: revisit next year", "Went with an in-house solution",
)  # fmt: skip
