"""Amazon's carrier codes for a shipment confirmation's `carrierCode`, kept in one place.

Orders API v0's model (ordersV0.json, PackageDetail.carrierCode) says only "Identifies the carrier that will
deliver the package. This field is required for all marketplaces" and points to Amazon's changelog
"CarrierCode value required in shipment confirmations for BR, MX, CA, SG, AU, IN, JP marketplaces": "See
Acceptable CarrierCode values for listed carriers. If the seller is using an unlisted carrier, they can use the
CarrierCode value of Other, then provide the carrier name in the CarrierName field."

The acceptable values are the CarrierCode enumeration of Amazon's feed schema amzn-base.xsd (the values the
order-fulfillment feeds took), as listed in the public repository hsudas/flexi
(Libraries/Flexi.Model/Enum/Amazon/CarrierAmazon.cs, commit 34e0e0be433d4f664fe9e007bced54543a4ac32d),
which carries each value exactly as Amazon spells it.
"""

from __future__ import annotations

OTHER = "Other"

CARRIER_CODES = (
    "USPS",
    "UPS",
    "UPSMI",
    "FedEx",
    "DHL",
    "Fastway",
    "GLS",
    "GO!",
    "Hermes Logistik Gruppe",
    "Royal Mail",
    "Parcelforce",
    "City Link",
    "TNT",
    "Target",
    "SagawaExpress",
    "NipponExpress",
    "YamatoTransport",
    "DHL Global Mail",
    "UPS Mail Innovations",
    "FedEx SmartPost",
    "OSM",
    "OnTrac",
    "Streamlite",
    "Newgistics",
    "Canada Post",
    "Blue Package",
    "Chronopost",
    "Deutsche Post",
    "DPD",
    "La Poste",
    "Parcelnet",
    "Poste Italiane",
    "SDA",
    "Smartmail",
    "FEDEX_JP",
    "JP_EXPRESS",
    "NITTSU",
    "SAGAWA",
    "YAMATO",
    "BlueDart",
    "AFL/Fedex",
    "Aramex",
    "India Post",
    "Professional",
    "DTDC",
    "Overnite Express",
    "First Flight",
    "Delhivery",
    "Lasership",
    "Yodel",
    OTHER,
)
_BY_FOLDED = {code.casefold(): code for code in CARRIER_CODES}


class UnknownCarrier(ValueError):
    """A carrier code not in Amazon's list, without a carrier name to send it as Other."""


def carrier_for(code: str, name: str | None = None) -> tuple[str, str | None]:
    """(carrierCode, carrierName) to send: a listed code in Amazon's spelling (case aside); a carrier Amazon does
    not list goes as Other with its name, which Other requires."""
    code, name = (code or "").strip(), (name or "").strip() or None
    if not code:
        raise UnknownCarrier(
            "--carrier is empty: give Amazon's carrier code, such as UPS, or Other with --carrier-name"
        )
    listed = _BY_FOLDED.get(code.casefold())
    if listed == OTHER and not name:
        raise UnknownCarrier("carrier code Other needs --carrier-name (Amazon requires carrierName with Other)")
    if listed is None:
        if not name:
            raise UnknownCarrier(
                f"carrier code {code!r} is not in Amazon's list (such as UPS, USPS, FedEx, DHL, "
                "Royal Mail); give --carrier-name NAME to send it as Other"
            )
        return OTHER, name
    return listed, name
