from . import res_company
from . import res_config_settings
from . import finnsys_billing_account
from . import res_partner
from . import account_move
from . import finnsys_withdrawal
from . import account_partial_reconcile
