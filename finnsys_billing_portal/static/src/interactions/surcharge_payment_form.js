import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { _t } from "@web/core/l10n/translation";
import { rpc, RPCError } from "@web/core/network/rpc";
import { patch } from "@web/core/utils/patch";
import { PaymentForm } from "@payment/interactions/payment_form";

/**
 * Before paying a FinnSys invoice, ask the server for the surcharge of the chosen payment
 * method and let the customer accept or refuse it. The server recomputes the figure when
 * the transaction is created, so what is sent back here is only the customer's consent.
 *
 * The FinnSys routes refuse a payment with a 4xx status whose body is a JSON-RPC error;
 * `rpc()` reads it whatever the status, and Odoo's form shows its message in a dialog.
 */
patch(PaymentForm.prototype, {
    async _initiatePaymentFlow(providerCode, paymentOptionId, paymentMethodCode, flow) {
        const pay = () =>
            super._initiatePaymentFlow(providerCode, paymentOptionId, paymentMethodCode, flow);
        if (!this.paymentContext.billingForm) {
            return pay();
        }
        const route = this.paymentContext.surchargeRoute;
        if (!route) {
            return this._finnsysPay(pay);
        }
        const params = this._finnsysSurchargeParams();
        let quote;
        try {
            quote = await this.waitFor(rpc(route, params));
        } catch (error) {
            if (error instanceof RPCError) {
                this._displayErrorDialog(_t("Payment processing failed"), error.data.message);
                this._enableButton();
                return;
            }
            throw error;
        }
        this.paymentContext.surcharge = quote.surcharge;
        if (!quote.surcharge) {
            return this._finnsysPay(pay);
        }
        const accepted = await this.waitFor(
            new Promise((resolve) => {
                this.services.dialog.add(
                    ConfirmationDialog,
                    {
                        title: _t("Payment surcharge"),
                        body: _t(
                            "Amount: %(amount)s\nSurcharge: %(surcharge)s (%(rule)s: %(percent)s%% + %(fixed)s)\nTotal: %(total)s",
                            {
                                amount: quote.amount_display,
                                surcharge: quote.surcharge_display,
                                rule: quote.rule_name,
                                percent: quote.rule_percent,
                                fixed: quote.rule_fixed_display,
                                total: quote.total_display,
                            }
                        ),
                        confirmLabel: _t("Accept and Continue"),
                        cancelLabel: _t("Cancel"),
                        confirm: () => resolve(true),
                        cancel: () => resolve(false),
                    },
                    { onClose: () => resolve(false) }
                );
            })
        );
        if (accepted) {
            return this._finnsysPay(pay);
        }
        let reply;
        try {
            reply = await this.waitFor(
                rpc(`${route}/decline`, { ...params, csrf_token: odoo.csrf_token })
            );
        } catch (error) {
            if (error instanceof RPCError) {
                this._displayErrorDialog(_t("Payment processing failed"), error.data.message);
                this._enableButton();
                return;
            }
            throw error;
        }
        // One notice says it: a second Cancel replaces the first instead of stacking.
        this.el.parentElement
            ?.querySelectorAll(".o_billing_surcharge_declined")
            .forEach((old) => old.remove());
        const notice = document.createElement("div");
        notice.className = "alert alert-warning mt-3 o_billing_surcharge_declined";
        notice.textContent = reply.message;
        this.el.after(notice);
        this._enableButton();
    },

    /**
     * Odoo's form shows a refusal of the transaction route in a dialog, then throws it again;
     * the customer has read the message, so it stops here rather than open a second dialog.
     */
    async _finnsysPay(pay) {
        try {
            return await pay();
        } catch (error) {
            if (error instanceof RPCError) {
                return;
            }
            throw error;
        }
    },

    /**
     * The choice the transaction route will get: the server quotes the surcharge of the
     * method that the flow actually charges (the token's, or the new method's).
     */
    _finnsysSurchargeParams() {
        const params = {
            amount: parseFloat(this.paymentContext.amount),
            access_token: this.paymentContext.accessToken,
            provider_id: parseInt(this.paymentContext.providerId),
            flow: this.paymentContext.flow,
        };
        if (this.paymentContext.flow === "token") {
            params.token_id = parseInt(this.paymentContext.tokenId);
        } else {
            params.payment_method_id = parseInt(this.paymentContext.paymentMethodId);
        }
        return params;
    },

    _prepareTransactionRouteParams() {
        const params = super._prepareTransactionRouteParams(...arguments);
        if (this.paymentContext.surchargeRoute) {
            params.surcharge = this.paymentContext.surcharge;
        }
        return params;
    },
});
