"""All routers of the API."""

from fastapi import APIRouter

from serving.api.routes import customers, events, health, models, offers, recommendations, training

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(recommendations.router)
api_router.include_router(customers.router)
api_router.include_router(events.router)
api_router.include_router(offers.router)
api_router.include_router(training.router)
api_router.include_router(models.router)
