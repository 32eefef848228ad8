"""Where the demo business sells: countries, their sales teams, names, cities, addresses, phones.

Phone numbers and postal codes are patterns (``#`` a digit, ``?`` a letter): plausible in shape,
random in content. Emails only ever use the reserved ``example.com``/``.org``/``.net`` domains.
"""

from __future__ import annotations

from dataclasses import dataclass

TEAMS: tuple[tuple[str, str], ...] = (
    ("North America", "Sales and support for the United States, Canada and Mexico."),
    ("EMEA", "Sales and support for Europe, the Middle East and Africa."),
    ("APAC", "Sales and support for Asia and the Pacific."),
)

# (name, role, team index or None). The admin is created by ``patron init``, never here.
USERS: tuple[tuple[str, str, int | None], ...] = (
    ("Olivia Bennett", "manager", 0),
    ("Marcus Reed", "sales", 0),
    ("Priya Natarajan", "sales", 0),
    ("Jake Thompson", "sales", 0),
    ("Daniel Kim", "support", 0),
    ("Grace Okafor", "support", 0),
    ("Henrik Larsen", "manager", 1),
    ("Amélie Dubois", "sales", 1),
    ("Lukas Becker", "sales", 1),
    ("Chiara Romano", "sales", 1),
    ("Tom Hughes", "support", 1),
    ("Eva Novak", "support", 1),
    ("Kenji Watanabe", "manager", 2),
    ("Chloe Tan", "sales", 2),
    ("Arjun Mehta", "sales", 2),
    ("Mia Wilson", "support", 2),
    ("Nina Park", "marketing", None),
    ("Samuel Adeyemi", "analyst", None),
    ("Ruth Fischer", "readonly", None),
)


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    postal: str  # pattern
    phone: str  # pattern


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    team: int
    weight: float
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    street_format: str  # "{n} {street}" or "{street} {n}"
    company_suffixes: tuple[str, ...]
    cities: tuple[City, ...]


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_EN_FIRST = _split(
    "James, Mary, Robert, Patricia, Michael, Jennifer, William, Linda, David, Elizabeth, Richard,"
    " Susan, Joseph, Jessica, Thomas, Sarah, Christopher, Karen, Daniel, Emily, Matthew, Ashley,"
    " Anthony, Emma, Mark, Olivia, Andrew, Sophia, Joshua, Ava, Ryan, Mia, Ethan, Chloe, Noah,"
    " Grace, Liam, Hannah, Lucas, Zoe"
)
_EN_LAST = _split(
    "Smith, Johnson, Williams, Brown, Jones, Miller, Davis, Wilson, Anderson, Taylor, Thomas,"
    " Moore, Martin, Jackson, Thompson, White, Harris, Clark, Lewis, Robinson, Walker, Young,"
    " Allen, King, Wright, Scott, Hill, Green, Adams, Baker, Nelson, Carter, Mitchell, Campbell,"
    " Roberts, Turner, Phillips, Parker, Evans, Edwards"
)
_GB_LAST = _split(
    "Smith, Jones, Taylor, Brown, Williams, Wilson, Johnson, Davies, Patel, Robinson, Wright,"
    " Thompson, Evans, Walker, White, Roberts, Green, Hall, Thomas, Clarke, Jackson, Wood, Hughes,"
    " Edwards, Turner, Hill, Moore, Cooper, Ward, Morris"
)
_ES_FIRST = _split(
    "Alejandro, Lucía, Daniel, Sofía, Pablo, María, Javier, Martina, Carlos, Paula, Diego,"
    " Valentina, Miguel, Elena, Sergio, Carmen, Adrián, Laura, Andrés, Isabel, Fernando, Camila,"
    " Jorge, Ana"
)
_ES_LAST = _split(
    "García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez, Gómez, Martín,"
    " Jiménez, Ruiz, Hernández, Díaz, Moreno, Álvarez, Romero, Navarro, Torres, Domínguez,"
    " Ramírez, Flores, Castro, Ortega"
)

COUNTRIES: tuple[Country, ...] = (
    Country(
        "US", 0, 40.0, _EN_FIRST, _EN_LAST,
        _split("Main Street, Oak Avenue, Maple Drive, Pine Street, Cedar Lane, Elm Street,"
               " Washington Avenue, Lake Road, Park Place, Sunset Boulevard, Highland Avenue,"
               " Church Street"),
        "{n} {street}", ("Inc.", "LLC", "Co."),
        (
            City("New York", "NY", "100##", "+1 212-555-####"),
            City("Los Angeles", "CA", "900##", "+1 213-555-####"),
            City("Chicago", "IL", "606##", "+1 312-555-####"),
            City("Houston", "TX", "770##", "+1 713-555-####"),
            City("Phoenix", "AZ", "850##", "+1 602-555-####"),
            City("Seattle", "WA", "981##", "+1 206-555-####"),
            City("Denver", "CO", "802##", "+1 303-555-####"),
            City("Boston", "MA", "021##", "+1 617-555-####"),
            City("Atlanta", "GA", "303##", "+1 404-555-####"),
            City("Austin", "TX", "787##", "+1 512-555-####"),
            City("Portland", "OR", "972##", "+1 503-555-####"),
            City("San Francisco", "CA", "941##", "+1 415-555-####"),
            City("Miami", "FL", "331##", "+1 305-555-####"),
            City("Minneapolis", "MN", "554##", "+1 612-555-####"),
        ),
    ),
    Country(
        "CA", 0, 8.0, _EN_FIRST, _EN_LAST,
        _split("King Street, Queen Street, Yonge Street, Maple Avenue, Bay Street,"
               " Robson Street, Rue Sainte-Catherine, Jasper Avenue"),
        "{n} {street}", ("Ltd.", "Inc."),
        (
            City("Toronto", "ON", "M5V #?#", "+1 416-555-####"),
            City("Vancouver", "BC", "V6B #?#", "+1 604-555-####"),
            City("Montréal", "QC", "H2X #?#", "+1 514-555-####"),
            City("Calgary", "AB", "T2P #?#", "+1 403-555-####"),
            City("Ottawa", "ON", "K1P #?#", "+1 613-555-####"),
        ),
    ),
    Country(
        "MX", 0, 4.0, _ES_FIRST, _ES_LAST,
        _split("Avenida Reforma, Calle Madero, Avenida Juárez, Calle Hidalgo, Avenida Insurgentes"),
        "{street} {n}", ("S.A. de C.V.",),
        (
            City("Ciudad de México", "CDMX", "06###", "+52 55 #### ####"),
            City("Guadalajara", "JAL", "44###", "+52 33 #### ####"),
            City("Monterrey", "NL", "64###", "+52 81 #### ####"),
        ),
    ),
    Country(
        "GB", 1, 10.0, _EN_FIRST, _GB_LAST,
        _split("High Street, Station Road, Church Lane, Victoria Road, Park Road, Mill Lane,"
               " Green Lane, King's Road"),
        "{n} {street}", ("Ltd", "plc"),
        (
            City("London", "England", "SW1A #??", "+44 20 7946 0###"),
            City("Manchester", "England", "M1 #??", "+44 161 496 0###"),
            City("Birmingham", "England", "B1 #??", "+44 121 496 0###"),
            City("Bristol", "England", "BS1 #??", "+44 117 496 0###"),
            City("Edinburgh", "Scotland", "EH1 #??", "+44 131 496 0###"),
            City("Glasgow", "Scotland", "G1 #??", "+44 141 496 0###"),
        ),
    ),
    Country(
        "DE", 1, 9.0,
        _split("Lukas, Anna, Leon, Lena, Finn, Marie, Jonas, Sophie, Paul, Laura, Felix, Lea,"
               " Maximilian, Hannah, Tobias, Julia, Jan, Katharina, Niklas, Sarah"),
        _split("Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz,"
               " Hoffmann, Koch, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Zimmermann,"
               " Braun, Krüger"),
        _split("Hauptstraße, Bahnhofstraße, Gartenstraße, Schillerstraße, Goethestraße,"
               " Lindenstraße, Bergstraße, Kirchweg"),
        "{street} {n}", ("GmbH", "AG", "KG"),
        (
            City("Berlin", "Berlin", "10###", "+49 30 #### ####"),
            City("Hamburg", "Hamburg", "20###", "+49 40 #### ####"),
            City("München", "Bayern", "80###", "+49 89 #### ####"),
            City("Köln", "Nordrhein-Westfalen", "50###", "+49 221 ### ####"),
            City("Frankfurt am Main", "Hessen", "60###", "+49 69 #### ####"),
            City("Stuttgart", "Baden-Württemberg", "70###", "+49 711 ### ####"),
        ),
    ),
    Country(
        "FR", 1, 7.0,
        _split("Gabriel, Louise, Léo, Jade, Raphaël, Emma, Arthur, Chloé, Louis, Alice, Jules,"
               " Léa, Hugo, Manon, Lucas, Camille, Nathan, Inès, Théo, Juliette"),
        _split("Martin, Bernard, Thomas, Petit, Robert, Richard, Durand, Dubois, Moreau,"
               " Laurent, Simon, Michel, Lefebvre, Leroy, Roux, David, Bertrand, Morel, Fournier,"
               " Girard"),
        _split("rue de la République, avenue Victor Hugo, rue Nationale, boulevard Voltaire,"
               " rue de la Paix, place de la Mairie, rue Pasteur"),
        "{n} {street}", ("SAS", "SARL", "S.A."),
        (
            City("Paris", "Île-de-France", "750##", "+33 1 ## ## ## ##"),
            City("Lyon", "Auvergne-Rhône-Alpes", "6900#", "+33 4 ## ## ## ##"),
            City("Marseille", "Provence-Alpes-Côte d'Azur", "130##", "+33 4 ## ## ## ##"),
            City("Toulouse", "Occitanie", "310##", "+33 5 ## ## ## ##"),
            City("Bordeaux", "Nouvelle-Aquitaine", "330##", "+33 5 ## ## ## ##"),
            City("Lille", "Hauts-de-France", "590##", "+33 3 ## ## ## ##"),
        ),
    ),
    Country(
        "ES", 1, 4.0, _ES_FIRST, _ES_LAST,
        _split("Calle Mayor, Gran Vía, Calle de Alcalá, Paseo de Gracia, Calle Real,"
               " Avenida de la Constitución"),
        "{street} {n}", ("S.L.", "S.A."),
        (
            City("Madrid", "Comunidad de Madrid", "280##", "+34 91 ### ## ##"),
            City("Barcelona", "Cataluña", "080##", "+34 93 ### ## ##"),
            City("Valencia", "Comunidad Valenciana", "460##", "+34 96 ### ## ##"),
            City("Sevilla", "Andalucía", "410##", "+34 95 ### ## ##"),
        ),
    ),
    Country(
        "IT", 1, 4.0,
        _split("Leonardo, Sofia, Francesco, Giulia, Alessandro, Aurora, Lorenzo, Alice, Mattia,"
               " Ginevra, Andrea, Emma, Gabriele, Giorgia, Riccardo, Chiara"),
        _split("Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino, Greco,"
               " Bruno, Gallo, Conti, De Luca, Costa, Giordano"),
        _split("Via Roma, Via Garibaldi, Corso Italia, Via Dante, Via Mazzini, Viale Europa"),
        "{street} {n}", ("S.r.l.", "S.p.A."),
        (
            City("Roma", "Lazio", "001##", "+39 06 #### ####"),
            City("Milano", "Lombardia", "201##", "+39 02 #### ####"),
            City("Torino", "Piemonte", "101##", "+39 011 ### ####"),
            City("Bologna", "Emilia-Romagna", "401##", "+39 051 ### ####"),
        ),
    ),
    Country(
        "NL", 1, 3.0,
        _split("Daan, Emma, Sem, Julia, Lucas, Mila, Levi, Tess, Finn, Sophie, Milan, Zoë, Bram,"
               " Sara, Thijs, Anna"),
        _split("de Jong, Jansen, de Vries, van den Berg, van Dijk, Bakker, Visser, Smit, Meijer,"
               " de Boer, Mulder, de Groot, Bos, Vos, Peters, Hendriks"),
        _split("Kerkstraat, Dorpsstraat, Stationsweg, Molenstraat, Prinsengracht, Schoolstraat"),
        "{street} {n}", ("B.V.",),
        (
            City("Amsterdam", "Noord-Holland", "10## ??", "+31 20 ### ####"),
            City("Rotterdam", "Zuid-Holland", "30## ??", "+31 10 ### ####"),
            City("Utrecht", "Utrecht", "35## ??", "+31 30 ### ####"),
        ),
    ),
    Country(
        "SE", 1, 2.0,
        _split("William, Alice, Liam, Maja, Noah, Elsa, Hugo, Astrid, Oscar, Wilma, Lucas,"
               " Freja, Elias, Saga, Axel, Ebba"),
        _split("Andersson, Johansson, Karlsson, Nilsson, Eriksson, Larsson, Olsson, Persson,"
               " Svensson, Gustafsson, Pettersson, Jonsson"),
        _split("Storgatan, Drottninggatan, Kungsgatan, Vasagatan, Skolgatan"),
        "{street} {n}", ("AB",),
        (
            City("Stockholm", "Stockholms län", "111 ##", "+46 8 ### ### ##"),
            City("Göteborg", "Västra Götalands län", "411 ##", "+46 31 ### ## ##"),
            City("Malmö", "Skåne län", "211 ##", "+46 40 ### ## ##"),
        ),
    ),
    Country(
        "AU", 2, 4.0, _EN_FIRST, _EN_LAST,
        _split("George Street, Collins Street, Queen Street, Hay Street, King William Street,"
               " Beach Road, Pacific Highway"),
        "{n} {street}", ("Pty Ltd",),
        (
            City("Sydney", "NSW", "20##", "+61 2 #### ####"),
            City("Melbourne", "VIC", "30##", "+61 3 #### ####"),
            City("Brisbane", "QLD", "40##", "+61 7 #### ####"),
            City("Perth", "WA", "60##", "+61 8 #### ####"),
            City("Adelaide", "SA", "50##", "+61 8 #### ####"),
        ),
    ),
    Country(
        "NZ", 2, 1.0, _EN_FIRST, _EN_LAST,
        _split("Queen Street, Lambton Quay, Colombo Street, Ponsonby Road, Cuba Street"),
        "{n} {street}", ("Limited",),
        (
            City("Auckland", "Auckland", "10##", "+64 9 ### ####"),
            City("Wellington", "Wellington", "60##", "+64 4 ### ####"),
            City("Christchurch", "Canterbury", "80##", "+64 3 ### ####"),
        ),
    ),
    Country(
        "JP", 2, 4.0,
        _split("Haruto, Yui, Sota, Hina, Yuto, Aoi, Riku, Sakura, Kaito, Yuna, Ren, Mio, Hiroshi,"
               " Yoko, Takumi, Akari"),
        _split("Sato, Suzuki, Takahashi, Tanaka, Watanabe, Ito, Yamamoto, Nakamura, Kobayashi,"
               " Kato, Yoshida, Yamada, Sasaki, Matsumoto, Inoue, Kimura"),
        _split("Jingumae, Ginza, Shibuya, Umeda, Namba, Sakae, Tenjin"),
        "{n} {street}", ("K.K.", "Co., Ltd."),
        (
            City("Tokyo", "Tokyo", "1##-####", "+81 3-####-####"),
            City("Osaka", "Osaka", "5##-####", "+81 6-####-####"),
            City("Nagoya", "Aichi", "4##-####", "+81 52-###-####"),
            City("Fukuoka", "Fukuoka", "8##-####", "+81 92-###-####"),
        ),
    ),
    Country(
        "SG", 2, 1.0,
        _split("Wei Ling, Jun Jie, Hui Min, Zhi Hao, Siti, Muhammad, Priya, Ravi, Mei, Daniel,"
               " Rachel, Marcus"),
        _split("Tan, Lim, Lee, Ng, Ong, Wong, Goh, Chua, Chan, Koh, Teo, Ang"),
        _split("Orchard Road, Robinson Road, Cecil Street, Bukit Timah Road, Tanjong Pagar Road"),
        "{n} {street}", ("Pte. Ltd.",),
        (City("Singapore", "Singapore", "######", "+65 6### ####"),),
    ),
    Country(
        "IN", 2, 3.0,
        _split("Aarav, Ananya, Vivaan, Diya, Aditya, Isha, Arjun, Saanvi, Rohan, Priya, Karan,"
               " Neha, Rahul, Pooja, Vikram, Kavya"),
        _split("Sharma, Verma, Patel, Gupta, Singh, Kumar, Reddy, Iyer, Nair, Mehta, Joshi,"
               " Rao, Desai, Kapoor, Malhotra, Bose"),
        _split("MG Road, Linking Road, Park Street, Brigade Road, Anna Salai, Nehru Place"),
        "{n} {street}", ("Pvt. Ltd.",),
        (
            City("Mumbai", "Maharashtra", "4000##", "+91 22 #### ####"),
            City("Bengaluru", "Karnataka", "5600##", "+91 80 #### ####"),
            City("New Delhi", "Delhi", "1100##", "+91 11 #### ####"),
            City("Chennai", "Tamil Nadu", "6000##", "+91 44 #### ####"),
        ),
    ),
)  # fmt: skip

COMPANY_WORDS = _split(
    "Northwind, Bluebird, Summit, Evergreen, Ironwood, Silverline, Brightpath, Harbor, Maple,"
    " Granite, Cedar, Redwood, Pioneer, Atlas, Beacon, Crescent, Lakeside, Oakridge, Riverstone,"
    " Sterling, Meridian, Foxglove, Juniper, Copperleaf, Highland, Kestrel, Lighthouse, Orchard,"
    " Quarry, Saffron, Tidewater, Willow"
)

# (noun, industry): what the company is, which drives its deals and purchases.
COMPANY_KINDS: tuple[tuple[str, str], ...] = (
    ("Coffee House", "hospitality"),
    ("Cafés", "hospitality"),
    ("Hotels", "hospitality"),
    ("Studios", "creative"),
    ("Photography", "creative"),
    ("Media", "creative"),
    ("Labs", "technology"),
    ("Systems", "technology"),
    ("Software", "technology"),
    ("Consulting", "professional services"),
    ("Partners", "professional services"),
    ("Legal", "professional services"),
    ("Fitness", "fitness"),
    ("Athletics", "fitness"),
    ("Outfitters", "retail"),
    ("Supply", "retail"),
    ("Events", "events"),
    ("Co-working", "real estate"),
)

SOURCES: tuple[tuple[str, float], ...] = (
    ("website", 30),
    ("organic search", 18),
    ("paid search", 12),
    ("social", 10),
    ("referral", 10),
    ("marketplace", 8),
    ("newsletter", 4),
    ("trade show", 3),
    ("partner", 3),
    ("import", 2),
)

EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

COUNTRY_NAMES = {
    "US": "the United States", "CA": "Canada", "MX": "Mexico", "GB": "the United Kingdom",
    "DE": "Germany", "FR": "France", "ES": "Spain", "IT": "Italy", "NL": "the Netherlands",
    "SE": "Sweden", "AU": "Australia", "NZ": "New Zealand", "JP": "Japan", "SG": "Singapore",
    "IN": "India",
}  # fmt: skip
