from django.urls import path
from portraits import views

urlpatterns = [
    path("stories/new", views.new_story, name="new_story"),
    path("stories/<str:story_id>/", views.story_page, name="story"),
    path("stories/<str:story_id>/portrait", views.portrait, name="portrait"),
]
