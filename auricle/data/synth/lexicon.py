"""Parallel lexicons for the translation grammar: one row per concept, one column per language.

Languages: en, zh, de, fr, es, it. Each entry carries what agreement needs: gender (m/f) of
French, Spanish and Italian nouns (Italian plural gender separately: "uovo" m, "uova" f), the
German article (which gives the gender), and the Chinese measure word.
"""

from __future__ import annotations

PARALLEL_LANGUAGES = ("en", "zh", "de", "fr", "es", "it")

# fmt: off
# Subjects, singular with definite article (no agreement needed by the templates).
SUBJECTS = [
    {"en": "the teacher", "zh": "老师", "de": "der Lehrer", "fr": "le professeur", "es": "el profesor", "it": "l'insegnante"},
    {"en": "the child", "zh": "孩子", "de": "das Kind", "fr": "l'enfant", "es": "el niño", "it": "il bambino"},
    {"en": "the doctor", "zh": "医生", "de": "der Arzt", "fr": "le médecin", "es": "el médico", "it": "il medico"},
    {"en": "the farmer", "zh": "农民", "de": "der Bauer", "fr": "l'agriculteur", "es": "el granjero", "it": "il contadino"},
    {"en": "the cook", "zh": "厨师", "de": "der Koch", "fr": "le cuisinier", "es": "el cocinero", "it": "il cuoco"},
    {"en": "the student", "zh": "学生", "de": "der Student", "fr": "l'étudiant", "es": "el estudiante", "it": "lo studente"},
    {"en": "the neighbour", "zh": "邻居", "de": "der Nachbar", "fr": "le voisin", "es": "el vecino", "it": "il vicino"},
    {"en": "the artist", "zh": "艺术家", "de": "die Künstlerin", "fr": "l'artiste", "es": "la artista", "it": "l'artista"},
    {"en": "the driver", "zh": "司机", "de": "der Fahrer", "fr": "le chauffeur", "es": "el conductor", "it": "l'autista"},
    {"en": "the woman", "zh": "那个女人", "de": "die Frau", "fr": "la femme", "es": "la mujer", "it": "la donna"},
    {"en": "the man", "zh": "那个男人", "de": "der Mann", "fr": "l'homme", "es": "el hombre", "it": "l'uomo"},
    {"en": "the girl", "zh": "女孩", "de": "das Mädchen", "fr": "la fille", "es": "la niña", "it": "la ragazza"},
    {"en": "the boy", "zh": "男孩", "de": "der Junge", "fr": "le garçon", "es": "el chico", "it": "il ragazzo"},
    {"en": "my friend", "zh": "我的朋友", "de": "mein Freund", "fr": "mon ami", "es": "mi amigo", "it": "il mio amico"},
    {"en": "the baker", "zh": "面包师", "de": "der Bäcker", "fr": "le boulanger", "es": "el panadero", "it": "il fornaio"},
    {"en": "my sister", "zh": "我的姐姐", "de": "meine Schwester", "fr": "ma sœur", "es": "mi hermana", "it": "mia sorella"},
    {"en": "my brother", "zh": "我的哥哥", "de": "mein Bruder", "fr": "mon frère", "es": "mi hermano", "it": "mio fratello"},
    {"en": "the grandmother", "zh": "奶奶", "de": "die Großmutter", "fr": "la grand-mère", "es": "la abuela", "it": "la nonna"},
    {"en": "the police officer", "zh": "警察", "de": "der Polizist", "fr": "le policier", "es": "el policía", "it": "il poliziotto"},
    {"en": "the nurse", "zh": "护士", "de": "die Krankenschwester", "fr": "l'infirmière", "es": "la enfermera", "it": "l'infermiera"},
]

# Countable objects. en: (singular, plural); zh: (noun, measure word); de: (article, singular,
# plural); fr/es: (article, singular, plural, gender); it: (article, singular, plural, gender sg,
# gender pl). An article ending in an apostrophe is joined to the noun.
OBJECTS = [
    {"en": ("apple", "apples"), "zh": ("苹果", "个"), "de": ("der", "Apfel", "Äpfel"), "fr": ("la", "pomme", "pommes", "f"), "es": ("la", "manzana", "manzanas", "f"), "it": ("la", "mela", "mele", "f", "f")},
    {"en": ("book", "books"), "zh": ("书", "本"), "de": ("das", "Buch", "Bücher"), "fr": ("le", "livre", "livres", "m"), "es": ("el", "libro", "libros", "m"), "it": ("il", "libro", "libri", "m", "m")},
    {"en": ("chair", "chairs"), "zh": ("椅子", "把"), "de": ("der", "Stuhl", "Stühle"), "fr": ("la", "chaise", "chaises", "f"), "es": ("la", "silla", "sillas", "f"), "it": ("la", "sedia", "sedie", "f", "f")},
    {"en": ("cup", "cups"), "zh": ("杯子", "个"), "de": ("die", "Tasse", "Tassen"), "fr": ("la", "tasse", "tasses", "f"), "es": ("la", "taza", "tazas", "f"), "it": ("la", "tazza", "tazze", "f", "f")},
    {"en": ("flower", "flowers"), "zh": ("花", "朵"), "de": ("die", "Blume", "Blumen"), "fr": ("la", "fleur", "fleurs", "f"), "es": ("la", "flor", "flores", "f"), "it": ("il", "fiore", "fiori", "m", "m")},
    {"en": ("ball", "balls"), "zh": ("球", "个"), "de": ("der", "Ball", "Bälle"), "fr": ("le", "ballon", "ballons", "m"), "es": ("la", "pelota", "pelotas", "f"), "it": ("la", "palla", "palle", "f", "f")},
    {"en": ("car", "cars"), "zh": ("汽车", "辆"), "de": ("das", "Auto", "Autos"), "fr": ("la", "voiture", "voitures", "f"), "es": ("el", "coche", "coches", "m"), "it": ("la", "macchina", "macchine", "f", "f")},
    {"en": ("letter", "letters"), "zh": ("信", "封"), "de": ("der", "Brief", "Briefe"), "fr": ("la", "lettre", "lettres", "f"), "es": ("la", "carta", "cartas", "f"), "it": ("la", "lettera", "lettere", "f", "f")},
    {"en": ("egg", "eggs"), "zh": ("鸡蛋", "个"), "de": ("das", "Ei", "Eier"), "fr": ("l'", "œuf", "œufs", "m"), "es": ("el", "huevo", "huevos", "m"), "it": ("l'", "uovo", "uova", "m", "f")},
    {"en": ("bottle", "bottles"), "zh": ("瓶子", "个"), "de": ("die", "Flasche", "Flaschen"), "fr": ("la", "bouteille", "bouteilles", "f"), "es": ("la", "botella", "botellas", "f"), "it": ("la", "bottiglia", "bottiglie", "f", "f")},
    {"en": ("pencil", "pencils"), "zh": ("铅笔", "支"), "de": ("der", "Bleistift", "Bleistifte"), "fr": ("le", "crayon", "crayons", "m"), "es": ("el", "lápiz", "lápices", "m"), "it": ("la", "matita", "matite", "f", "f")},
    {"en": ("box", "boxes"), "zh": ("盒子", "个"), "de": ("die", "Kiste", "Kisten"), "fr": ("la", "boîte", "boîtes", "f"), "es": ("la", "caja", "cajas", "f"), "it": ("la", "scatola", "scatole", "f", "f")},
    {"en": ("bag", "bags"), "zh": ("包", "个"), "de": ("die", "Tasche", "Taschen"), "fr": ("le", "sac", "sacs", "m"), "es": ("el", "bolso", "bolsos", "m"), "it": ("la", "borsa", "borse", "f", "f")},
    {"en": ("shirt", "shirts"), "zh": ("衬衫", "件"), "de": ("das", "Hemd", "Hemden"), "fr": ("la", "chemise", "chemises", "f"), "es": ("la", "camisa", "camisas", "f"), "it": ("la", "camicia", "camicie", "f", "f")},
    {"en": ("key", "keys"), "zh": ("钥匙", "把"), "de": ("der", "Schlüssel", "Schlüssel"), "fr": ("la", "clé", "clés", "f"), "es": ("la", "llave", "llaves", "f"), "it": ("la", "chiave", "chiavi", "f", "f")},
    {"en": ("hat", "hats"), "zh": ("帽子", "顶"), "de": ("der", "Hut", "Hüte"), "fr": ("le", "chapeau", "chapeaux", "m"), "es": ("el", "sombrero", "sombreros", "m"), "it": ("il", "cappello", "cappelli", "m", "m")},
    {"en": ("plate", "plates"), "zh": ("盘子", "个"), "de": ("der", "Teller", "Teller"), "fr": ("l'", "assiette", "assiettes", "f"), "es": ("el", "plato", "platos", "m"), "it": ("il", "piatto", "piatti", "m", "m")},
    {"en": ("lamp", "lamps"), "zh": ("灯", "盏"), "de": ("die", "Lampe", "Lampen"), "fr": ("la", "lampe", "lampes", "f"), "es": ("la", "lámpara", "lámparas", "f"), "it": ("la", "lampada", "lampade", "f", "f")},
    {"en": ("ticket", "tickets"), "zh": ("票", "张"), "de": ("die", "Fahrkarte", "Fahrkarten"), "fr": ("le", "billet", "billets", "m"), "es": ("el", "billete", "billetes", "m"), "it": ("il", "biglietto", "biglietti", "m", "m")},
    {"en": ("candle", "candles"), "zh": ("蜡烛", "根"), "de": ("die", "Kerze", "Kerzen"), "fr": ("la", "bougie", "bougies", "f"), "es": ("la", "vela", "velas", "f"), "it": ("la", "candela", "candele", "f", "f")},
]

# Colours. de: stem (endings added by the grammar); fr/es/it: (m sg, f sg, m pl, f pl).
COLOURS = [
    {"en": "red", "zh": "红色", "de": "rot", "fr": ("rouge", "rouge", "rouges", "rouges"), "es": ("rojo", "roja", "rojos", "rojas"), "it": ("rosso", "rossa", "rossi", "rosse")},
    {"en": "blue", "zh": "蓝色", "de": "blau", "fr": ("bleu", "bleue", "bleus", "bleues"), "es": ("azul", "azul", "azules", "azules"), "it": ("blu", "blu", "blu", "blu")},
    {"en": "green", "zh": "绿色", "de": "grün", "fr": ("vert", "verte", "verts", "vertes"), "es": ("verde", "verde", "verdes", "verdes"), "it": ("verde", "verde", "verdi", "verdi")},
    {"en": "yellow", "zh": "黄色", "de": "gelb", "fr": ("jaune", "jaune", "jaunes", "jaunes"), "es": ("amarillo", "amarilla", "amarillos", "amarillas"), "it": ("giallo", "gialla", "gialli", "gialle")},
    {"en": "white", "zh": "白色", "de": "weiß", "fr": ("blanc", "blanche", "blancs", "blanches"), "es": ("blanco", "blanca", "blancos", "blancas"), "it": ("bianco", "bianca", "bianchi", "bianche")},
    {"en": "black", "zh": "黑色", "de": "schwarz", "fr": ("noir", "noire", "noirs", "noires"), "es": ("negro", "negra", "negros", "negras"), "it": ("nero", "nera", "neri", "nere")},
    {"en": "grey", "zh": "灰色", "de": "grau", "fr": ("gris", "grise", "gris", "grises"), "es": ("gris", "gris", "grises", "grises"), "it": ("grigio", "grigia", "grigi", "grigie")},
    {"en": "brown", "zh": "棕色", "de": "braun", "fr": ("marron", "marron", "marron", "marron"), "es": ("marrón", "marrón", "marrones", "marrones"), "it": ("marrone", "marrone", "marroni", "marroni")},
]

# Predicate adjectives. fr/es/it: (m, f).
ADJECTIVES = [
    {"en": "big", "zh": "很大", "de": "groß", "fr": ("grand", "grande"), "es": ("grande", "grande"), "it": ("grande", "grande")},
    {"en": "small", "zh": "很小", "de": "klein", "fr": ("petit", "petite"), "es": ("pequeño", "pequeña"), "it": ("piccolo", "piccola")},
    {"en": "new", "zh": "很新", "de": "neu", "fr": ("neuf", "neuve"), "es": ("nuevo", "nueva"), "it": ("nuovo", "nuova")},
    {"en": "old", "zh": "很旧", "de": "alt", "fr": ("vieux", "vieille"), "es": ("viejo", "vieja"), "it": ("vecchio", "vecchia")},
    {"en": "heavy", "zh": "很重", "de": "schwer", "fr": ("lourd", "lourde"), "es": ("pesado", "pesada"), "it": ("pesante", "pesante")},
    {"en": "clean", "zh": "很干净", "de": "sauber", "fr": ("propre", "propre"), "es": ("limpio", "limpia"), "it": ("pulito", "pulita")},
    {"en": "beautiful", "zh": "很漂亮", "de": "schön", "fr": ("beau", "belle"), "es": ("bonito", "bonita"), "it": ("bello", "bella")},
    {"en": "expensive", "zh": "很贵", "de": "teuer", "fr": ("cher", "chère"), "es": ("caro", "cara"), "it": ("caro", "cara")},
    {"en": "cheap", "zh": "很便宜", "de": "billig", "fr": ("bon marché", "bon marché"), "es": ("barato", "barata"), "it": ("economico", "economica")},
    {"en": "broken", "zh": "坏了", "de": "kaputt", "fr": ("cassé", "cassée"), "es": ("roto", "rota"), "it": ("rotto", "rotta")},
]

# Transitive verbs, third person singular present.
VERBS = [
    {"en": "buys", "zh": "买", "de": "kauft", "fr": "achète", "es": "compra", "it": "compra"},
    {"en": "sees", "zh": "看见", "de": "sieht", "fr": "voit", "es": "ve", "it": "vede"},
    {"en": "carries", "zh": "拿着", "de": "trägt", "fr": "porte", "es": "lleva", "it": "porta"},
    {"en": "finds", "zh": "找到", "de": "findet", "fr": "trouve", "es": "encuentra", "it": "trova"},
    {"en": "sells", "zh": "卖", "de": "verkauft", "fr": "vend", "es": "vende", "it": "vende"},
    {"en": "wants", "zh": "想要", "de": "will", "fr": "veut", "es": "quiere", "it": "vuole"},
    {"en": "paints", "zh": "画", "de": "malt", "fr": "peint", "es": "pinta", "it": "dipinge"},
    {"en": "counts", "zh": "数", "de": "zählt", "fr": "compte", "es": "cuenta", "it": "conta"},
    {"en": "has", "zh": "有", "de": "hat", "fr": "a", "es": "tiene", "it": "ha"},
    {"en": "orders", "zh": "订", "de": "bestellt", "fr": "commande", "es": "pide", "it": "ordina"},
]

# Places as complete locative phrases ("in the garden"); zh is the place noun with its
# localiser (花园里), used after 在 or at the start of an existential sentence.
PLACES = [
    {"en": "in the garden", "zh": "花园里", "de": "im Garten", "fr": "dans le jardin", "es": "en el jardín", "it": "nel giardino"},
    {"en": "in the kitchen", "zh": "厨房里", "de": "in der Küche", "fr": "dans la cuisine", "es": "en la cocina", "it": "in cucina"},
    {"en": "at school", "zh": "学校里", "de": "in der Schule", "fr": "à l'école", "es": "en la escuela", "it": "a scuola"},
    {"en": "in the park", "zh": "公园里", "de": "im Park", "fr": "dans le parc", "es": "en el parque", "it": "nel parco"},
    {"en": "at the station", "zh": "车站里", "de": "am Bahnhof", "fr": "à la gare", "es": "en la estación", "it": "alla stazione"},
    {"en": "in the shop", "zh": "商店里", "de": "im Laden", "fr": "dans le magasin", "es": "en la tienda", "it": "nel negozio"},
    {"en": "in the office", "zh": "办公室里", "de": "im Büro", "fr": "au bureau", "es": "en la oficina", "it": "in ufficio"},
    {"en": "at the market", "zh": "市场上", "de": "auf dem Markt", "fr": "au marché", "es": "en el mercado", "it": "al mercato"},
    {"en": "in the library", "zh": "图书馆里", "de": "in der Bibliothek", "fr": "à la bibliothèque", "es": "en la biblioteca", "it": "in biblioteca"},
    {"en": "in the car", "zh": "车里", "de": "im Auto", "fr": "dans la voiture", "es": "en el coche", "it": "in macchina"},
    {"en": "on the table", "zh": "桌子上", "de": "auf dem Tisch", "fr": "sur la table", "es": "en la mesa", "it": "sul tavolo"},
    {"en": "in the classroom", "zh": "教室里", "de": "im Klassenzimmer", "fr": "dans la salle de classe", "es": "en el aula", "it": "in aula"},
]
# fmt: on
