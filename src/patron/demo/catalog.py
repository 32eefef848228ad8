"""The demo shop's catalogue: categories, products, seasons and the bundles people really buy.

Each bundle is an anchor product and companions bought with it at a given rate (a camera with a
memory card three times in four), so association-rule mining finds rules with lift far above 1.
Companions are also bought on their own later (beans for the espresso machine, ink for the
printer), as replenishment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Product line: key, name, price in whole currency units (sold at price - 0.01), popularity,
# consumable ("c": bought repeatedly and often several at a time).
_Line = tuple[str, str, int, int, str]

CATEGORIES: dict[str, tuple[_Line, ...]] = {
    "Cameras & Photo": (
        ("mirrorless_camera", "Aperture M50 Mirrorless Camera", 900, 3, ""),
        ("dslr_camera", "Aperture D7 DSLR Camera", 1250, 2, ""),
        ("compact_camera", "Pocket Zoom Compact Camera", 430, 2, ""),
        ("action_camera", "TrailCam 4K Action Camera", 300, 3, ""),
        ("memory_card_128", "128 GB SDXC Memory Card", 35, 6, "c"),
        ("memory_card_256", "256 GB SDXC Memory Card", 60, 4, "c"),
        ("camera_bag", "Shoulder Camera Bag", 70, 3, ""),
        ("camera_battery", "Spare Camera Battery", 50, 3, ""),
        ("battery_charger", "Dual Battery Charger", 40, 2, ""),
        ("lens_50mm", "50 mm f/1.8 Prime Lens", 220, 3, ""),
        ("lens_zoom", "24-105 mm Zoom Lens", 700, 2, ""),
        ("tripod", "Aluminium Travel Tripod", 130, 3, ""),
        ("lens_cleaning_kit", "Lens Cleaning Kit", 15, 4, "c"),
        ("uv_filter", "67 mm UV Filter", 30, 2, ""),
        ("camera_strap", "Leather Camera Strap", 35, 2, ""),
        ("action_mount_kit", "Action Camera Mount Kit", 40, 2, ""),
        ("photo_printer", "Compact Photo Printer", 150, 1, ""),
        ("photo_paper", "Photo Paper 4x6 (100 sheets)", 20, 3, "c"),
        ("ring_light", "LED Ring Light", 80, 2, ""),
        ("drone", "SkyHop Mini Drone", 550, 1, ""),
    ),
    "Coffee & Espresso": (
        ("espresso_machine", "Barista Pro Espresso Machine", 650, 3, ""),
        ("capsule_machine", "Capsula One Coffee Machine", 150, 4, ""),
        ("drip_coffee_maker", "12-Cup Drip Coffee Maker", 90, 3, ""),
        ("coffee_grinder", "Burr Coffee Grinder", 180, 3, ""),
        ("coffee_beans_house", "House Blend Coffee Beans 1 kg", 25, 9, "c"),
        ("coffee_beans_espresso", "Espresso Roast Coffee Beans 1 kg", 28, 7, "c"),
        ("coffee_beans_decaf", "Decaf Colombia Coffee Beans 500 g", 17, 3, "c"),
        ("coffee_capsules", "Coffee Capsules (50 pack)", 22, 7, "c"),
        ("descaler", "Descaling Solution", 12, 5, "c"),
        ("milk_frother", "Electric Milk Frother", 60, 4, ""),
        ("milk_jug", "Stainless Milk Jug 600 ml", 20, 3, ""),
        ("tamper", "Espresso Tamper 58 mm", 30, 2, ""),
        ("knock_box", "Espresso Knock Box", 25, 1, ""),
        ("coffee_scale", "Coffee Scale with Timer", 45, 2, ""),
        ("pour_over_kit", "Pour-Over Starter Kit", 40, 2, ""),
        ("paper_filters", "Paper Coffee Filters (100 pack)", 7, 4, "c"),
        ("french_press", "French Press 1 l", 35, 3, ""),
        ("cold_brew_maker", "Cold Brew Maker", 32, 2, ""),
        ("espresso_cups", "Espresso Cups (set of 4)", 25, 2, ""),
        ("water_filter", "Water Filter Cartridge", 15, 3, "c"),
    ),
    "Kitchen": (
        ("chefs_knife", "Chef's Knife 20 cm", 90, 4, ""),
        ("cutting_board", "Walnut Cutting Board", 50, 3, ""),
        ("knife_sharpener", "Knife Sharpener", 30, 3, ""),
        ("knife_block", "Magnetic Knife Block", 60, 1, ""),
        ("cast_iron_skillet", "Cast-Iron Skillet 26 cm", 45, 3, ""),
        ("skillet_care", "Cast-Iron Care Kit", 15, 2, "c"),
        ("dutch_oven", "Enamelled Dutch Oven 5 l", 190, 2, ""),
        ("stand_mixer", "Stand Mixer 5 l", 400, 2, ""),
        ("mixer_bowl", "Extra Mixing Bowl", 50, 1, ""),
        ("baking_set", "Baking Sheet Set", 35, 2, ""),
        ("blender", "High-Speed Blender", 250, 2, ""),
        ("air_fryer", "Air Fryer 5.5 l", 130, 4, ""),
        ("air_fryer_liners", "Air Fryer Paper Liners (100)", 10, 3, "c"),
        ("toaster", "2-Slice Toaster", 50, 2, ""),
        ("kettle", "Electric Kettle 1.7 l", 60, 3, ""),
        ("cookware_set", "Non-Stick Cookware Set", 180, 2, ""),
        ("food_containers", "Glass Food Containers (10)", 40, 3, ""),
        ("kitchen_scale", "Digital Kitchen Scale", 25, 2, ""),
        ("spice_rack", "Spice Rack with 20 Jars", 45, 1, ""),
        ("apron", "Canvas Apron", 30, 1, ""),
    ),
    "Audio": (
        ("headphones_nc", "Noise-Cancelling Headphones", 330, 4, ""),
        ("earbuds", "True Wireless Earbuds", 150, 5, ""),
        ("headphone_case", "Headphone Travel Case", 25, 2, ""),
        ("headphone_stand", "Headphone Stand", 30, 1, ""),
        ("bt_speaker", "Portable Bluetooth Speaker", 100, 4, ""),
        ("soundbar", "Soundbar with Subwoofer", 400, 2, ""),
        ("hdmi_cable", "HDMI 2.1 Cable 2 m", 15, 4, ""),
        ("soundbar_mount", "Soundbar Wall Mount", 30, 1, ""),
        ("turntable", "Belt-Drive Turntable", 280, 2, ""),
        ("vinyl_cleaning_kit", "Vinyl Cleaning Kit", 25, 2, "c"),
        ("bookshelf_speakers", "Bookshelf Speakers (pair)", 350, 2, ""),
        ("speaker_cable", "Speaker Cable 10 m", 20, 2, ""),
        ("stereo_amplifier", "Stereo Amplifier", 450, 1, ""),
        ("record_sleeves", "Record Sleeves (50)", 15, 1, "c"),
        ("usb_microphone", "USB Microphone", 130, 2, ""),
        ("mic_arm", "Microphone Boom Arm", 40, 1, ""),
        ("pop_filter", "Pop Filter", 15, 1, ""),
        ("headphone_dac", "USB Headphone DAC", 100, 1, ""),
        ("ear_tips", "Foam Ear Tips (3 pairs)", 20, 2, "c"),
        ("party_speaker", "Party Speaker with Lights", 300, 1, ""),
    ),
    "Computers": (
        ("laptop_13", 'Ultrabook 13"', 1100, 3, ""),
        ("laptop_15", 'Laptop Pro 15"', 1600, 2, ""),
        ("laptop_sleeve", 'Laptop Sleeve 13"', 35, 3, ""),
        ("laptop_backpack", "Laptop Backpack", 80, 3, ""),
        ("usb_c_hub", "USB-C Hub 7-in-1", 50, 5, ""),
        ("wireless_mouse", "Wireless Mouse", 40, 6, ""),
        ("keyboard", "Mechanical Keyboard", 120, 3, ""),
        ("monitor_27", '27" 4K Monitor', 400, 3, ""),
        ("monitor_arm", "Monitor Arm", 90, 2, ""),
        ("displayport_cable", "DisplayPort Cable 2 m", 20, 2, ""),
        ("webcam", "1080p Webcam", 80, 3, ""),
        ("portable_ssd", "Portable SSD 1 TB", 120, 4, ""),
        ("usb_stick", "USB Stick 128 GB", 20, 4, "c"),
        ("tablet", 'Tablet 11"', 600, 2, ""),
        ("tablet_case", "Tablet Folio Case", 45, 2, ""),
        ("stylus", "Stylus Pen", 100, 2, ""),
        ("laptop_stand", "Aluminium Laptop Stand", 50, 3, ""),
        ("desk_mat", "Desk Mat XL", 25, 3, ""),
        ("router", "Wi-Fi 6 Router", 180, 2, ""),
        ("power_bank", "Power Bank 20,000 mAh", 50, 4, ""),
    ),
    "Office": (
        ("printer", "Colour Inkjet Printer", 150, 3, ""),
        ("ink_black", "Black Ink Cartridge", 30, 6, "c"),
        ("ink_colour", "Colour Ink Cartridge Set", 50, 5, "c"),
        ("printer_paper", "Printer Paper A4 (500 sheets)", 9, 6, "c"),
        ("laser_printer", "Mono Laser Printer", 230, 1, ""),
        ("toner", "Toner Cartridge", 80, 2, "c"),
        ("desk_chair", "Ergonomic Desk Chair", 350, 2, ""),
        ("standing_desk", "Electric Standing Desk", 600, 2, ""),
        ("desk_lamp", "LED Desk Lamp", 60, 3, ""),
        ("notebooks", "Dot-Grid Notebooks (3 pack)", 20, 4, "c"),
        ("gel_pens", "Gel Pens (12 pack)", 12, 4, "c"),
        ("sticky_notes", "Sticky Notes (12 pads)", 9, 3, "c"),
        ("shredder", "Paper Shredder", 120, 1, ""),
        ("label_maker", "Label Maker", 50, 1, ""),
        ("label_tape", "Label Tape (2 pack)", 20, 1, "c"),
        ("whiteboard", "Magnetic Whiteboard", 90, 1, ""),
        ("whiteboard_markers", "Whiteboard Markers (8)", 12, 2, "c"),
        ("footrest", "Ergonomic Footrest", 40, 1, ""),
        ("cable_kit", "Cable Management Kit", 22, 2, ""),
        ("document_tray", "Document Tray", 20, 1, ""),
    ),
    "Gaming": (
        ("game_console", "NovaStation 5 Console", 500, 3, ""),
        ("controller", "Wireless Controller", 70, 5, ""),
        ("gaming_headset", "Gaming Headset", 100, 3, ""),
        ("game_skyforge", "Skyforge Chronicles (game)", 70, 4, ""),
        ("game_kart", "Turbo Kart Rally (game)", 60, 4, ""),
        ("game_tactics", "Galactic Tactics (game)", 60, 3, ""),
        ("charging_dock", "Controller Charging Dock", 35, 3, ""),
        ("gaming_mouse", "Gaming Mouse", 70, 3, ""),
        ("gaming_keyboard", "RGB Gaming Keyboard", 130, 2, ""),
        ("gaming_chair", "Gaming Chair", 300, 2, ""),
        ("handheld_console", "Switchblade Handheld Console", 350, 3, ""),
        ("handheld_case", "Handheld Carry Case", 25, 3, ""),
        ("screen_protector", "Screen Protector (2 pack)", 15, 3, "c"),
        ("gift_card", "Game Store Gift Card 50", 50, 3, "c"),
        ("vr_headset", "VR Headset", 430, 1, ""),
        ("gaming_monitor", '27" 165 Hz Gaming Monitor', 330, 2, ""),
        ("capture_card", "HD Capture Card", 150, 1, ""),
        ("online_play", "Online Play 12-Month Subscription", 60, 3, "c"),
    ),
    "Smart Home": (
        ("smart_speaker", "Smart Speaker", 100, 4, ""),
        ("smart_display", 'Smart Display 8"', 130, 2, ""),
        ("smart_plug", "Smart Plug (2 pack)", 30, 5, ""),
        ("smart_bulb", "Smart Bulb E27 (4 pack)", 50, 4, ""),
        ("video_doorbell", "Video Doorbell", 180, 3, ""),
        ("doorbell_chime", "Doorbell Chime", 30, 2, ""),
        ("indoor_camera", "Indoor Security Camera", 60, 3, ""),
        ("outdoor_camera", "Outdoor Security Camera", 150, 2, ""),
        ("thermostat", "Smart Thermostat", 230, 2, ""),
        ("motion_sensor", "Motion Sensor", 35, 2, ""),
        ("door_sensor", "Door & Window Sensor (2 pack)", 40, 2, ""),
        ("smart_lock", "Smart Lock", 250, 2, ""),
        ("robot_vacuum", "Robot Vacuum", 400, 2, ""),
        ("vacuum_filters", "Robot Vacuum Filter Kit", 25, 3, "c"),
        ("air_purifier", "Air Purifier", 200, 2, ""),
        ("purifier_filter", "Air Purifier Filter", 45, 3, "c"),
        ("mesh_wifi", "Mesh Wi-Fi System (3 pack)", 300, 1, ""),
        ("smart_hub", "Smart Home Hub", 120, 1, ""),
    ),
    "Fitness": (
        ("yoga_mat", "Yoga Mat 6 mm", 40, 5, ""),
        ("yoga_blocks", "Yoga Blocks (2)", 20, 3, ""),
        ("yoga_strap", "Yoga Strap", 12, 2, ""),
        ("dumbbells", "Adjustable Dumbbells", 300, 2, ""),
        ("kettlebell", "Kettlebell 12 kg", 60, 2, ""),
        ("resistance_bands", "Resistance Bands Set", 25, 4, ""),
        ("foam_roller", "Foam Roller", 30, 3, ""),
        ("fitness_tracker", "Fitness Tracker", 130, 3, ""),
        ("tracker_band", "Spare Tracker Band", 20, 2, ""),
        ("smart_scale", "Smart Body Scale", 70, 2, ""),
        ("exercise_bike", "Indoor Exercise Bike", 800, 1, ""),
        ("equipment_mat", "Equipment Floor Mat", 50, 1, ""),
        ("protein_shaker", "Protein Shaker", 12, 3, ""),
        ("water_bottle", "Insulated Water Bottle", 30, 5, ""),
        ("jump_rope", "Speed Jump Rope", 15, 2, ""),
        ("gym_bag", "Gym Duffel Bag", 50, 2, ""),
        ("running_belt", "Running Belt", 20, 2, ""),
        ("massage_gun", "Massage Gun", 150, 2, ""),
    ),
    "Outdoor & Garden": (
        ("tent", "Two-Person Tent", 200, 2, ""),
        ("sleeping_bag", "Three-Season Sleeping Bag", 120, 2, ""),
        ("sleeping_pad", "Inflatable Sleeping Pad", 80, 2, ""),
        ("camp_stove", "Camping Stove", 60, 2, ""),
        ("gas_canister", "Stove Gas Canister (2)", 12, 3, "c"),
        ("headlamp", "LED Headlamp", 30, 4, ""),
        ("hiking_backpack", "Hiking Backpack 40 l", 140, 2, ""),
        ("trekking_poles", "Trekking Poles (pair)", 70, 2, ""),
        ("camping_lantern", "Camping Lantern", 35, 2, ""),
        ("lawn_mower", "Cordless Lawn Mower", 380, 2, ""),
        ("grass_trimmer", "Cordless Grass Trimmer", 130, 2, ""),
        ("tool_battery", "Garden Tool Battery 4 Ah", 100, 2, ""),
        ("garden_gloves", "Garden Gloves", 15, 3, "c"),
        ("garden_hose", "Expandable Garden Hose 30 m", 45, 2, ""),
        ("hose_nozzle", "Hose Spray Nozzle", 15, 2, ""),
        ("bbq_grill", "Kettle Barbecue Grill", 250, 2, ""),
        ("grill_tools", "Barbecue Tool Set", 40, 2, ""),
        ("grill_cover", "Barbecue Cover", 30, 2, ""),
    ),
}

# Demand by month (January first) for each category, on top of the shop-wide seasonality.
SEASONS: dict[str, tuple[float, ...]] = {
    "Cameras & Photo": (0.9, 0.8, 0.9, 1.0, 1.1, 1.2, 1.2, 1.1, 0.9, 0.9, 1.4, 1.7),
    "Coffee & Espresso": (1.2, 1.1, 1.0, 1.0, 0.9, 0.8, 0.8, 0.8, 1.0, 1.1, 1.3, 1.4),
    "Kitchen": (1.0, 0.9, 0.9, 1.0, 1.0, 0.9, 0.9, 0.9, 1.0, 1.1, 1.3, 1.5),
    "Audio": (0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.4, 1.7),
    "Computers": (1.1, 0.9, 0.9, 0.9, 0.9, 0.9, 1.1, 1.5, 1.4, 1.0, 1.2, 1.3),
    "Office": (1.3, 1.0, 1.0, 0.9, 0.9, 0.8, 0.9, 1.3, 1.4, 1.1, 1.0, 0.9),
    "Gaming": (0.8, 0.8, 0.8, 0.8, 0.9, 1.0, 1.0, 0.9, 1.0, 1.1, 1.7, 2.2),
    "Smart Home": (1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 0.9, 1.0, 1.1, 1.5, 1.5),
    "Fitness": (2.0, 1.5, 1.1, 1.0, 1.0, 0.9, 0.8, 0.8, 0.9, 0.9, 1.0, 0.9),
    "Outdoor & Garden": (0.4, 0.5, 0.9, 1.5, 1.9, 2.0, 1.9, 1.6, 1.0, 0.6, 0.5, 0.6),
}

# anchor -> ((companion, probability of being bought with it), ...)
BUNDLES: dict[str, tuple[tuple[str, float], ...]] = {
    "mirrorless_camera": (
        ("memory_card_128", 0.75), ("camera_bag", 0.55), ("camera_battery", 0.45),
        ("lens_50mm", 0.25),
    ),
    "dslr_camera": (
        ("memory_card_256", 0.7), ("camera_bag", 0.5), ("lens_zoom", 0.3), ("tripod", 0.25),
    ),
    "compact_camera": (("memory_card_128", 0.6), ("camera_strap", 0.3)),
    "action_camera": (("memory_card_128", 0.7), ("action_mount_kit", 0.6)),
    "photo_printer": (("photo_paper", 0.8),),
    "espresso_machine": (
        ("coffee_beans_espresso", 0.7), ("descaler", 0.5), ("milk_jug", 0.45), ("tamper", 0.35),
    ),
    "capsule_machine": (("coffee_capsules", 0.8), ("descaler", 0.4), ("milk_frother", 0.35)),
    "drip_coffee_maker": (("paper_filters", 0.7), ("coffee_beans_house", 0.6)),
    "coffee_grinder": (("coffee_beans_house", 0.55), ("coffee_scale", 0.3)),
    "pour_over_kit": (("paper_filters", 0.6), ("coffee_scale", 0.3)),
    "chefs_knife": (("cutting_board", 0.6), ("knife_sharpener", 0.5)),
    "cast_iron_skillet": (("skillet_care", 0.7),),
    "air_fryer": (("air_fryer_liners", 0.7),),
    "stand_mixer": (("baking_set", 0.5), ("mixer_bowl", 0.3)),
    "headphones_nc": (("headphone_case", 0.5),),
    "soundbar": (("hdmi_cable", 0.6), ("soundbar_mount", 0.4)),
    "turntable": (
        ("vinyl_cleaning_kit", 0.6), ("bookshelf_speakers", 0.35), ("record_sleeves", 0.3),
    ),
    "usb_microphone": (("mic_arm", 0.5), ("pop_filter", 0.5)),
    "laptop_13": (("laptop_sleeve", 0.6), ("usb_c_hub", 0.55), ("wireless_mouse", 0.5)),
    "laptop_15": (("laptop_backpack", 0.5), ("usb_c_hub", 0.5), ("wireless_mouse", 0.45)),
    "monitor_27": (("displayport_cable", 0.5), ("monitor_arm", 0.4)),
    "tablet": (("tablet_case", 0.6), ("stylus", 0.45)),
    "printer": (("ink_black", 0.7), ("printer_paper", 0.6), ("ink_colour", 0.5)),
    "laser_printer": (("printer_paper", 0.6), ("toner", 0.5)),
    "game_console": (
        ("controller", 0.7), ("game_skyforge", 0.45), ("gaming_headset", 0.3),
        ("charging_dock", 0.3),
    ),
    "handheld_console": (
        ("handheld_case", 0.6), ("screen_protector", 0.55), ("game_kart", 0.5),
    ),
    "video_doorbell": (("doorbell_chime", 0.6),),
    "smart_speaker": (("smart_plug", 0.5), ("smart_bulb", 0.5)),
    "robot_vacuum": (("vacuum_filters", 0.6),),
    "air_purifier": (("purifier_filter", 0.6),),
    "yoga_mat": (("yoga_blocks", 0.6), ("yoga_strap", 0.45)),
    "fitness_tracker": (("tracker_band", 0.4),),
    "exercise_bike": (("equipment_mat", 0.6),),
    "tent": (("sleeping_bag", 0.6), ("sleeping_pad", 0.55), ("headlamp", 0.4)),
    "camp_stove": (("gas_canister", 0.8),),
    "lawn_mower": (("tool_battery", 0.5), ("grass_trimmer", 0.3)),
    "bbq_grill": (("grill_tools", 0.6), ("grill_cover", 0.5)),
}  # fmt: skip

MAX_COMPANIONS = 4
# Products that plug in or pair: the only ones a "will not turn on" ticket can be about.
DEVICES = frozenset({
    "mirrorless_camera", "dslr_camera", "compact_camera", "action_camera", "battery_charger",
    "photo_printer", "ring_light", "drone",
    "espresso_machine", "capsule_machine", "drip_coffee_maker", "coffee_grinder", "milk_frother",
    "coffee_scale", "stand_mixer", "blender", "air_fryer", "toaster", "kettle", "kitchen_scale",
    "headphones_nc", "earbuds", "bt_speaker", "soundbar", "turntable", "stereo_amplifier",
    "usb_microphone", "headphone_dac", "party_speaker",
    "laptop_13", "laptop_15", "usb_c_hub", "wireless_mouse", "keyboard", "monitor_27", "webcam",
    "portable_ssd", "tablet", "stylus", "router", "power_bank",
    "printer", "laser_printer", "shredder", "label_maker", "standing_desk", "desk_lamp",
    "game_console", "controller", "gaming_headset", "charging_dock", "gaming_mouse",
    "gaming_keyboard", "handheld_console", "vr_headset", "gaming_monitor", "capture_card",
    "smart_speaker", "smart_display", "smart_plug", "smart_bulb", "video_doorbell",
    "doorbell_chime", "indoor_camera", "outdoor_camera", "thermostat", "motion_sensor",
    "door_sensor", "smart_lock", "robot_vacuum", "air_purifier", "mesh_wifi", "smart_hub",
    "fitness_tracker", "smart_scale", "exercise_bike", "massage_gun",
    "lawn_mower", "grass_trimmer", "tool_battery", "camping_lantern", "headlamp",
})  # fmt: skip
CATEGORY_NAMES = tuple(CATEGORIES)
SKU_PREFIXES = ("PHO", "COF", "KIT", "AUD", "CMP", "OFF", "GAM", "SMH", "FIT", "OUT")


@dataclass(frozen=True)
class Catalogue:
    """The catalogue as arrays indexed by product number."""

    keys: tuple[str, ...]
    names: tuple[str, ...]
    skus: tuple[str, ...]
    category: np.ndarray  # int, index into CATEGORY_NAMES
    price_minor: np.ndarray  # int64, today's price
    popularity: np.ndarray  # float
    consumable: np.ndarray  # bool
    device: np.ndarray  # bool: can break, pair, need firmware
    anchors: np.ndarray  # (bundles,) product index
    companions: np.ndarray  # (bundles, MAX_COMPANIONS) product index, -1 for none
    companion_rates: np.ndarray  # (bundles, MAX_COMPANIONS) probability, 0 for none
    season: np.ndarray  # (12, categories) demand factor

    @property
    def size(self) -> int:
        return len(self.keys)


def build_catalogue() -> Catalogue:
    keys: list[str] = []
    names: list[str] = []
    skus: list[str] = []
    category: list[int] = []
    price: list[int] = []
    popularity: list[int] = []
    consumable: list[bool] = []
    for number, (_category_name, lines) in enumerate(CATEGORIES.items()):
        for position, (key, name, whole, weight, flags) in enumerate(lines):
            keys.append(key)
            names.append(name)
            skus.append(f"{SKU_PREFIXES[number]}-{1001 + position}")
            category.append(number)
            price.append(whole * 100 - 1)
            popularity.append(weight)
            consumable.append("c" in flags)
    index = {key: i for i, key in enumerate(keys)}
    if len(index) != len(keys) or not set(index) >= DEVICES:
        raise ValueError("duplicate or unknown product keys in the demo catalogue")
    anchors = np.array([index[anchor] for anchor in BUNDLES], dtype=np.int64)
    companions = np.full((len(BUNDLES), MAX_COMPANIONS), -1, dtype=np.int64)
    rates = np.zeros((len(BUNDLES), MAX_COMPANIONS))
    for row, members in enumerate(BUNDLES.values()):
        for column, (key, rate) in enumerate(members):
            companions[row, column] = index[key]
            rates[row, column] = rate
    season = np.array([SEASONS[name] for name in CATEGORY_NAMES], dtype=np.float64).T
    return Catalogue(
        keys=tuple(keys),
        names=tuple(names),
        skus=tuple(skus),
        category=np.array(category, dtype=np.int64),
        price_minor=np.array(price, dtype=np.int64),
        popularity=np.array(popularity, dtype=np.float64),
        consumable=np.array(consumable, dtype=bool),
        device=np.array([key in DEVICES for key in keys]),
        anchors=anchors,
        companions=companions,
        companion_rates=rates,
        season=season,
    )


DESCRIPTIONS: dict[str, str] = {
    "Cameras & Photo": "Picked by our photo team; ships with a two-year warranty.",
    "Coffee & Espresso": "For better coffee at home or at work; roasted or tested in-house.",
    "Kitchen": "Everyday kitchen essentials that last.",
    "Audio": "Hi-fi sound at home and on the go.",
    "Computers": "Computers and accessories for work, study and play.",
    "Office": "Office equipment and supplies, delivered next day.",
    "Gaming": "Consoles, games and gear.",
    "Smart Home": "Works with all major smart-home assistants.",
    "Fitness": "Train at home, run outside.",
    "Outdoor & Garden": "For the garden, the campsite and the trail.",
}
