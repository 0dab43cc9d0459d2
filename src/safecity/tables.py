"""Every domain's tables, imported in one place so the metadata (and Alembic) sees the whole schema."""

from safecity.analytics import models as analytics_models
from safecity.analytics.plates import models as plates_models
from safecity.analytics.plates.hotlists import models as hotlists_models
from safecity.audit import models as audit_models
from safecity.auth import models as auth_models
from safecity.cameras import models as camera_models
from safecity.cameras.privacy import models as privacy_models
from safecity.connectors import models as connectors_models
from safecity.connectors.ctlist import models as ctlist_models
from safecity.connectors.prisons import models as prisons_models
from safecity.connectors.rescue1122 import models as rescue_models
from safecity.connectors.vehicles import models as registry_models
from safecity.core.db import Base
from safecity.dispatch import models as dispatch_models
from safecity.events import models as events_models
from safecity.events.alerts import models as alerts_models
from safecity.evidence import models as evidence_models
from safecity.evidence.exports import models as evidence_exports_models
from safecity.evidence.keys import models as evidence_keys_models
from safecity.faces import models as faces_models
from safecity.faces.matches import models as face_matches_models
from safecity.federation import models as federation_models
from safecity.forensics import models as forensics_models
from safecity.forensics.synopsis import models as synopsis_models
from safecity.incidents import models as incidents_models
from safecity.incidents.panic import models as panic_models
from safecity.incidents.sharing import models as sharing_models
from safecity.org import models as org_models
from safecity.records import models as records_models
from safecity.records.quality import models as records_quality_models
from safecity.records.search import models as records_search_models
from safecity.traffic import models as traffic_models
from safecity.traffic.appeals import models as appeals_models
from safecity.traffic.challans import models as challans_models
from safecity.traffic.payments import models as payments_models
from safecity.traffic.reviews import models as reviews_models
from safecity.traffic.violations import models as violations_models
from safecity.video import models as video_models
from safecity.video.wall import models as video_wall_models

metadata = Base.metadata
__all__ = [
    "alerts_models",
    "analytics_models",
    "appeals_models",
    "audit_models",
    "auth_models",
    "camera_models",
    "challans_models",
    "connectors_models",
    "ctlist_models",
    "dispatch_models",
    "events_models",
    "evidence_exports_models",
    "evidence_keys_models",
    "evidence_models",
    "face_matches_models",
    "faces_models",
    "federation_models",
    "forensics_models",
    "hotlists_models",
    "incidents_models",
    "metadata",
    "org_models",
    "panic_models",
    "payments_models",
    "plates_models",
    "prisons_models",
    "privacy_models",
    "records_models",
    "records_quality_models",
    "records_search_models",
    "registry_models",
    "rescue_models",
    "reviews_models",
    "sharing_models",
    "synopsis_models",
    "traffic_models",
    "video_models",
    "video_wall_models",
    "violations_models",
]
