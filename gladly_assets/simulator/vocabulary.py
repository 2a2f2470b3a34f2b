"""Words the generator draws from: names, places and messages in several languages.

Kept apart from the generator so that the logic stays short. Text is deliberately
international (accents, CJK, Arabic, Cyrillic, emoji with skin tones and ZWJ
sequences) because a loader that mangles Unicode should fail the tests.
``{order}`` and ``{first}`` are filled in by the generator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Locale:
    language: str  # ISO 639-1 code, as recordingSummary.language writes it
    # (as written, ASCII spelling for email addresses)
    first_names: tuple[tuple[str, str], ...]
    last_names: tuple[tuple[str, str], ...]
    family_name_first: bool
    phone_prefix: str  # E.164 country code plus the mobile prefix
    phone_digits: int  # digits after the prefix
    addresses: tuple[str, ...]  # '{n}' is a house number
    email_domains: tuple[str, ...]
    inbound: tuple[str, ...]  # what customers write
    replies: tuple[str, ...]  # what agents answer
    subjects: tuple[str, ...]


LOCALES: tuple[Locale, ...] = (
    Locale(
        "en",
        (("Emma", "emma"), ("Liam", "liam"), ("Olivia", "olivia"), ("Noah", "noah"), ("Zoë", "zoe")),
        (("Smith", "smith"), ("O'Connor", "oconnor"), ("Nguyen", "nguyen"), ("Johnson", "johnson")),
        False,
        "+1415555",
        4,
        ("{n} Market St, San Francisco, CA 94103, USA", "{n} W 4th St, Apt 2B, New York, NY 10012, USA"),
        ("gmail.com", "outlook.com", "icloud.com"),
        (
            "Hi, my order #{order} hasn't arrived yet. Can you check?",
            "I was charged twice for order #{order} 😡",
            "The package arrived damaged 📦💥 what now?",
            "👋🏽 still waiting on #{order}… 🤔 👩‍💻",
        ),
        (
            "Hi {first}, thanks for reaching out! Order #{order} is on its way 🚚",
            "So sorry about that, {first}. I've refunded the duplicate charge.",
        ),
        ("Order #{order}", "Re: Where is my package?", "Refund request"),
    ),
    Locale(
        "fr",
        (("Amélie", "amelie"), ("Théo", "theo"), ("Hélène", "helene"), ("François", "francois")),
        (("Lefèvre", "lefevre"), ("Dubois", "dubois"), ("Girard", "girard")),
        False,
        "+336",
        8,
        ("{n} rue de l'Église, 75004 Paris, France", "{n} cours Mirabeau, 13100 Aix-en-Provence, France"),
        ("orange.fr", "free.fr", "gmail.com"),
        (
            "Bonjour, ma commande n°{order} n'est toujours pas arrivée… Pouvez-vous vérifier ?",
            "J'ai reçu la mauvaise taille, je voudrais l'échanger s'il vous plaît.",
        ),
        ("Bonjour {first}, je suis désolée pour ce désagrément — un nouveau colis part aujourd'hui.",),
        ("Problème de livraison", "Commande n°{order}"),
    ),
    Locale(
        "de",
        (("Jürgen", "juergen"), ("Käthe", "kaethe"), ("Lena", "lena"), ("Maximilian", "maximilian")),
        (("Müller", "mueller"), ("Schröder", "schroeder"), ("Weiß", "weiss"), ("Groß", "gross")),
        False,
        "+49151",
        8,
        ("Königstraße {n}, 70173 Stuttgart, Deutschland", "Straße des 17. Juni {n}, 10623 Berlin"),
        ("web.de", "gmx.de", "posteo.de"),
        (
            "Hallo, ich möchte meine Bestellung {order} stornieren. Grüße aus München!",
            "Die Rückerstattung für {order} fehlt noch. Können Sie das prüfen?",
        ),
        ("Hallo {first}, die Stornierung ist erledigt. Schönen Tag noch! ☀️",),
        ("Rückerstattung", "Bestellung {order}"),
    ),
    Locale(
        "es",
        (("José", "jose"), ("María", "maria"), ("Iñigo", "inigo"), ("Begoña", "begona")),
        (("García", "garcia"), ("Núñez", "nunez"), ("Peña", "pena")),
        False,
        "+346",
        8,
        ("Calle de Alcalá {n}, 28014 Madrid, España", "Passeig de Gràcia {n}, 08007 Barcelona"),
        ("gmail.com", "hotmail.es", "telefonica.net"),
        ("¡Hola! ¿Dónde está mi pedido {order}? Gracias 🙏", "Quiero devolver el artículo, ¿cómo lo hago?"),
        ("¡Hola {first}! Tu pedido {order} llegará mañana. ¡Un saludo!",),
        ("Devolución", "Pedido {order}"),
    ),
    Locale(
        "ja",
        (("花子", "hanako"), ("太郎", "taro"), ("陽菜", "hina")),
        (("田中", "tanaka"), ("佐藤", "sato"), ("鈴木", "suzuki")),
        True,
        "+8190",
        8,
        ("東京都渋谷区神南1-{n}-3 150-0041", "大阪府大阪市北区梅田{n}丁目"),
        ("yahoo.co.jp", "docomo.ne.jp", "gmail.com"),
        ("注文{order}がまだ届いていません。確認していただけますか？", "返品の方法を教えてください 🙇"),
        ("{first}様、お問い合わせありがとうございます。ご注文{order}は発送済みです。",),
        ("注文について", "返品のお願い"),
    ),
    Locale(
        "zh",
        (("伟", "wei"), ("芳", "fang"), ("静", "jing")),
        (("王", "wang"), ("李", "li"), ("张", "zhang")),
        True,
        "+86138",
        8,
        ("上海市浦东新区世纪大道{n}号", "北京市朝阳区建国路{n}号"),
        ("qq.com", "163.com"),
        ("你好，我的订单{order}什么时候发货？", "收到的商品有破损😢"),
        ("{first}您好，您的订单{order}已经发货了。",),
        ("订单{order}", "退款"),
    ),
    Locale(
        "vi",
        (("Lan", "lan"), ("Minh", "minh"), ("Thảo", "thao")),
        (("Nguyễn", "nguyen"), ("Trần", "tran"), ("Phạm", "pham")),
        True,
        "+8491",
        7,
        ("{n} Đường Lê Lợi, Quận 1, Thành phố Hồ Chí Minh", "{n} Phố Huế, Hà Nội"),
        ("gmail.com", "yahoo.com.vn"),
        ("Xin chào, đơn hàng {order} của tôi bị giao nhầm màu.",),
        ("Chào {first}, chúng tôi sẽ đổi hàng cho bạn ngay.",),
        ("Đơn hàng {order}",),
    ),
    Locale(
        "ar",
        (("محمد", "mohammed"), ("فاطمة", "fatima"), ("ليلى", "layla")),
        (("العلي", "alali"), ("الحربي", "alharbi")),
        False,
        "+96650",
        7,
        ("{n} طريق الملك فهد، الرياض 12211", "{n} شارع التحلية، جدة"),
        ("gmail.com", "hotmail.com"),
        ("مرحبا، لم يصل طلبي رقم {order} بعد", "أريد استرجاع المبلغ من فضلك"),
        ("مرحبا {first}، تم شحن طلبك {order} 📦",),
        ("طلب {order}",),
    ),
    Locale(
        "ru",
        (("Ольга", "olga"), ("Дмитрий", "dmitry")),
        (("Смирнова", "smirnova"), ("Иванов", "ivanov")),
        False,
        "+7916",
        7,
        ("ул. Тверская, д. {n}, Москва, 125009", "Невский пр., {n}, Санкт-Петербург"),
        ("yandex.ru", "mail.ru"),
        ("Здравствуйте! Заказ {order} пришёл повреждённым.",),
        ("Здравствуйте, {first}! Мы отправим замену сегодня.",),
        ("Заказ {order}",),
    ),
)

AGENT_NAMES: tuple[tuple[str, str], ...] = (
    ("Sofía Rossi", "sofia.rossi"),
    ("Marcus Chen", "marcus.chen"),
    ("Aisha Bello", "aisha.bello"),
    ("Jonas Lindqvist", "jonas.lindqvist"),
    ("Priya Raghunathan", "priya.raghunathan"),
    ("Tomás Ó Briain", "tomas.obriain"),
    ("Yuki Watanabe", "yuki.watanabe"),
    ("Chloé Martin", "chloe.martin"),
    ("Kwame Mensah", "kwame.mensah"),
    ("Élodie Fournier", "elodie.fournier"),
    ("Ngozi Okafor", "ngozi.okafor"),
    ("Lars Øvergaard", "lars.overgaard"),
)

# (name, index of the parent in this tuple or None, disabled at the start)
TOPICS: tuple[tuple[str, int | None, bool], ...] = (
    ("Orders", None, False),
    ("Where is my order?", 0, False),
    ("Order cancellation", 0, False),
    ("Wrong item", 0, False),
    ("Billing", None, False),
    ("Refund", 4, False),
    ("Double charge", 4, False),
    ("Account", None, False),
    ("Password reset", 7, False),
    ("Shipping", None, False),
    ("Delivery delay", 9, False),
    ("International shipping 🌍", 9, False),
    ("Product questions", None, False),
    ("Sizing / Größe / サイズ", 12, False),
    ("Legacy promo 2019", None, True),
    ("Promo code issue", 14, True),
)

NOTES: tuple[str, ...] = (
    "Customer called twice about this; escalated to tier 2.",
    "Remboursement validé — 24,90 € ✅",
    "VIP customer ⭐ handle with care",
    "Checked with warehouse (倉庫): parcel lost in transit.",
    'Said "thanks!" and hung up. Follow-up in 3 days\tif no reply.',
)

ACTIVITIES: tuple[tuple[str, str, str, str], ...] = (
    # (activityType, title, body, sourceName)
    ("EMAIL", "Order #{order} shipped", "Your order is on its way 🚚", "Shopify"),
    ("ISSUE", "Return requested for #{order}", "Reason: wrong size (taille incorrecte)", "Loop Returns"),
    ("SMS", "Delivery notification", "Paket {order} wurde zugestellt.", "Twilio"),
    ("SURVEY", "CSAT survey: ⭐⭐⭐⭐☆", '"Quick and friendly" — 素晴らしい対応', "Delighted"),
)

SIDEKICK_REPLIES: tuple[str, ...] = (
    "I'm Gladly's assistant 🤖. I can help with order #{order} — what would you like to do?",
    "I found your order #{order}. It shipped yesterday and should arrive in 2–3 days.",
)

QUICK_REPLY_OPTIONS: tuple[str, ...] = ("Track my order", "Talk to a person", "Start a return")

CALL_SUMMARIES: tuple[str, ...] = (
    "Customer asked about a late delivery; agent shared tracking and offered a 10% coupon.",
    "Le client signale un colis endommagé ; remplacement envoyé.",
    "Kunde wollte die Bestellung stornieren; erledigt.",
)

VOICE_AI_LINES: tuple[str, ...] = (
    "Hi, you've reached Gladly's virtual assistant. Are you calling about order {order}?",
    "I can help with returns, refunds and tracking — or connect you to someone. 🙂",
)

AUTO_REPLIES: tuple[str, ...] = (
    "Thanks for writing! We've received your message about #{order} and will reply within 24 hours.",
    "Merci ! Nous avons bien reçu votre message et vous répondrons sous 24 h.",
)

THIRD_PARTY_REPLIES: tuple[str, ...] = (
    "Looping in from billing: the duplicate charge for #{order} was reversed today.",
    "Carrier claims desk here — parcel {order} has been located at the depot.",
)

# (inbox name, the channels routed to it).
INBOXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Web chat", ("CHAT_MESSAGE",)),
    ("VIP chat ⭐", ("CHAT_MESSAGE",)),
    ("Support email", ("EMAIL",)),
    ("Billing email", ("EMAIL",)),
    ("Phone support", ("PHONE_CALL", "VOICEMAIL", "VOICE_AI_MESSAGE")),
    ("Messaging", ("SMS", "WHATSAPP")),
    ("Social", ("FACEBOOK_MESSAGE", "INSTAGRAM_DIRECT", "TWITTER")),
)
