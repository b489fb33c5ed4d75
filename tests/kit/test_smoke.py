from services.catalogue.app import create_app
from services.catalogue.settings import CatalogueSettings
from tests.support.fixtures import app_client, shared_settings_for_tests


async def test_occupations_list_through_real_db(test_db, signing_key, tokens):
    app = create_app(CatalogueSettings(database_url=test_db.role_urls["catalogue"], shared=shared_settings_for_tests()))
    async with app_client(app, test_db.engine("catalogue"), signing_key) as client:
        r = await client.get("/v1/occupations", headers=tokens.headers("admin"))
        assert r.status_code == 200, r.text
        assert r.json() == {"items": [], "next_cursor": None}
