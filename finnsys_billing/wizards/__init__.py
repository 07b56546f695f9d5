from . import finnsys_credit_override
from . import finnsys_billing_mode_switch
from . import finnsys_payment_receive
from . import finnsys_payment_receive_line
from . import finnsys_credit_issue
from . import finnsys_aged_receivable_wizard
from . import finnsys_reminder_send
from . import finnsys_subscription_change_plan
