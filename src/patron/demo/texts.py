"""The words of the demo: ticket subjects, activity notes, deal titles and reasons."""

from __future__ import annotations

# Ticket topics: (name, weight for order-related tickets, weight for churners, median hours to
# resolve, (subject, description) pairs). ``{product}``, ``{order}``, ``{country}`` are filled in.
TICKET_TOPICS: tuple[tuple[str, float, float, float, tuple[tuple[str, str], ...]], ...] = (
    (
        "delivery",
        25,
        18,
        20,
        (
            (
                "Where is my order {order}?",
                "It was due two days ago and the tracking page has not moved.",
            ),
            (
                "Order {order} has not arrived yet",
                "I need it before the weekend; can you check with the courier?",
            ),
            (
                "Tracking for {order} says delivered",
                "The parcel shows as delivered but nobody here received it.",
            ),
            (
                "Change delivery address for {order}",
                "I am away next week; please send it to my office instead.",
            ),
        ),
    ),
    (
        "damaged",
        12,
        20,
        48,
        (
            (
                "{product} arrived damaged",
                "The box was crushed and the {product} is dented. Photos attached.",
            ),
            (
                "Missing item in order {order}",
                "One of the items on the packing slip was not in the parcel.",
            ),
            (
                "Wrong item received in order {order}",
                "I ordered the {product} and received something else.",
            ),
        ),
    ),
    (
        "returns",
        15,
        24,
        72,
        (
            (
                "Return request for {product}",
                "It does not suit my needs; I would like to return it unopened.",
            ),
            (
                "Refund not received for order {order}",
                "I sent the parcel back two weeks ago and still have no refund.",
            ),
            ("How do I return {product}?", "Please send me a return label."),
        ),
    ),
    (
        "technical",
        25,
        28,
        30,
        (
            (
                "{product} will not turn on",
                "I followed the quick-start guide but it still does not start.",
            ),
            (
                "{product} keeps disconnecting",
                "It worked for a week and now it keeps dropping the connection.",
            ),
            (
                "Firmware update failed on {product}",
                "The app says the update failed and now the device is stuck.",
            ),
            ("How do I set up {product}?", "The manual in the box is for a different model."),
        ),
    ),
    (
        "billing",
        10,
        6,
        12,
        (
            (
                "Charged twice for order {order}",
                "My card statement shows two charges for the same order.",
            ),
            (
                "VAT invoice needed for order {order}",
                "Our accounts team needs an invoice with our company details.",
            ),
            (
                "Discount code not applied to {order}",
                "The newsletter code was accepted but the total did not change.",
            ),
        ),
    ),
    (
        "account",
        8,
        4,
        4,
        (
            ("Cannot log in to my account", "The password reset email never arrives."),
            (
                "Change the email on my account",
                "I have a new email address; please move my account to it.",
            ),
            (
                "Unsubscribe me from marketing emails",
                "I still receive newsletters after unsubscribing.",
            ),
        ),
    ),
    (
        "presale",
        5,
        0,
        6,
        (
            ("Is {product} in stock?", "We are comparing options and would like a quick answer."),
            ("Bulk pricing for {product}", "We may need a larger quantity for our office."),
            ("Do you ship to {country}?", "I could not find shipping information for my country."),
        ),
    ),
)
TECHNICAL = 3
# Technical questions about products that are not devices.
PRODUCT_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Question about {product}", "Which size or version do I need for my setup?"),
    ("{product} is not as described", "The colour and finish differ from the photos on the site."),
    ("How do I care for {product}?", "Is it dishwasher safe, and how should I store it?"),
)

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
