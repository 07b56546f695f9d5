from . import login_code
from . import portal
from . import subscription
from . import billing_info
from . import terms
from . import payments
from . import payment_method
from . import statement
